"""Accuracy of the video baselines and their ensemble on simulated 2023 mice, beside the ceilings.

Simulates the ``benchmark`` video preset (several mice; reused when already there), trains
each named model (``--models``, any registered video model: ``video-gru``, ``video-3d``,
``video-dwise``, ``video-dwise-small``) within its equal share of ``--budget-minutes`` of
wall-clock time, then the mean of their predictions (the kit's third baseline, an
:class:`~neurotwin.models.Ensemble`), and scores each on both 2023 tracks: the single-trial
correlation of the main and bonus tiers (live and final) beside its exact ceiling and as a
fraction of it, per mouse and, on the bonus tier, per out-of-domain class; plus seconds per
epoch and the peak memory of each model's training (each model trains in its own process, so
the peak is its own). Prints one JSON object. Runs resume under ``--work``: a second call with
a longer budget trains on. ``--jobs N`` trains N models at a time, each on ``cpus / N``
threads (at least one) and for ``N / len(models)`` of the budget, so that small models on few
cores are not held to one core's worth of parallel work each; the caches are built first.

    python benchmarks/video_accuracy.py [--preset benchmark] [--mice 3] [--budget-minutes 60]
        [--models video-gru video-3d video-dwise-small] [--size kit|small]
        [--work runs/video-accuracy] [--device cpu|cuda] [--dwise-epochs 12] [--ema 0.99]
        [--dwise-lr 6e-4] [--dwise-config '{"readout_kind": "gaussian"}'] [--jobs 1]

``--size small`` trains the demo's scaled-down baselines (16 channels; what a CPU budget of
minutes can train), ``kit`` the 2023 kit's published settings. The baselines train with the
2023 kit's recipe (AdamW, decay on plateau, windows of ``--frames``); ``video-dwise*`` with
the winner's (``dwise``: warm-up then cosine over ``--dwise-epochs`` epochs, EMA, CutMix;
windows of the model's own length; ``--dwise-lr`` and ``--dwise-config``, JSON model
overrides, change its peak rate and its settings), so its epochs must fit its share of the
budget for the schedule to reach its end. A model whose run under ``--work`` already ended
on the same share of the budget is scored without training more, so a dwise model can be
added beside baselines trained by an earlier call. ``dwise_over_best_baseline`` gives, per
tier, the dwise model's single-trial correlation over the better baseline's (the goal of
issue 18: at least 1.2 on the main and the bonus tiers).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

#: The models' configs of ``--size small``: the demo's ``video-gru`` and a 3D core of
#: the same scale (two layers, so 10 + 4 = 14 frames of temporal context).
SMALL: dict[str, dict[str, Any]] = {
    "video-gru": {
        "core": {"hidden_channels": 16, "layers": 3, "input_kern": 9, "hidden_kern": 5,
                 "gru_channels": 16, "gru_input_kern": 5, "gru_recurrent_kern": 5}
    },
    "video-3d": {"core": {"hidden_channels": [16, 32]}},
}  # fmt: skip
TRACKS = ("video-main", "video-bonus")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="benchmark")
    parser.add_argument("--mice", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--simulation",
        type=json.loads,
        default={},
        help="simulator overrides as JSON (e.g. '{\"neurons\": 500}'); default: the preset",
    )
    parser.add_argument("--models", nargs="+", default=["video-gru", "video-3d"])
    parser.add_argument("--budget-minutes", type=float, default=60.0, help="all models together")
    parser.add_argument("--size", choices=["kit", "small"], default="small")
    parser.add_argument("--epochs", type=int, default=200, help="most epochs per model")
    parser.add_argument("--frames", type=int, default=80, help="training window (kit: 80)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=0.005)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--jobs", type=int, default=1, help="models trained at a time")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--dwise-epochs", type=int, default=12, help="video-dwise's cosine")
    parser.add_argument("--ema", type=float, default=None, help="video-dwise's EMA decay")
    parser.add_argument(
        "--dwise-lr", type=float, default=None, help="video-dwise's peak rate (default: recipe's)"
    )
    parser.add_argument(
        "--dwise-config",
        type=json.loads,
        default={},
        help='video-dwise model overrides as JSON (e.g. \'{"readout_kind": "gaussian"}\')',
    )
    parser.add_argument("--work", type=Path, default=Path("runs/video-accuracy"))
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # child: one model
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    return args


def _mice(args: argparse.Namespace) -> list[Path]:
    from neurotwin.simulate import simulate_video

    data = args.work / f"data-{args.preset}-seed{args.seed}"
    made = simulate_video(data, args.preset, args.seed, args.mice, reuse=True, **args.simulation)
    return [m.path for m in made]


def track_scores(
    model: Any, paths: list[Path], cache_dir: Path | None, tracks: tuple[str, ...] = TRACKS
) -> dict[str, Any]:
    """Score the tracks: single-trial correlation beside its exact ceiling, per mouse and class."""
    from neurotwin.scoring.metrics import mean_over_neurons
    from neurotwin.scoring.tracks import SINGLE_TRIAL, get_track
    from neurotwin.submit import evaluate

    out: dict[str, Any] = {}
    for name in tracks:
        track = get_track(name)
        report = evaluate(model, paths, track, truth=None, cache_dir=cache_dir)
        phases: dict[str, Any] = {}
        for phase, part in report.phases.items():
            m = part.metrics[SINGLE_TRIAL]
            ceilings = m.ceiling_per_neuron or {}
            entry: dict[str, Any] = {
                "value": m.value,
                "exact_ceiling": m.ceiling,
                "fraction_of_ceiling": m.normalized,
                "per_mouse": {
                    mouse: {
                        "value": v,
                        "exact_ceiling": mean_over_neurons(ceilings[mouse])
                        if mouse in ceilings
                        else None,
                    }
                    for mouse, v in m.per_mouse.items()
                },
            }
            if m.per_class:
                entry["per_class"] = {
                    c: {"value": v, "exact_ceiling": m.per_class_ceiling.get(c)}
                    for c, v in m.per_class.items()
                }
            phases[phase] = entry
        out[name] = phases
    return out


def _train_one(args: argparse.Namespace) -> dict[str, Any]:
    """Train (or resume) one model within its share of the budget and score it."""
    import torch

    from neurotwin.config import apply_overrides
    from neurotwin.models import default_config
    from neurotwin.train import TrainConfig, fit
    from neurotwin.train.optim import recipe

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    paths = _mice(args)
    name = args.one
    common: dict[str, Any] = {
        "batch_size": args.batch_size,
        "device": args.device,
        "progress": False,
        "time_limit": _share_s(args),
    }
    model_config = SMALL.get(name, {}) if args.size == "small" else {}
    if name.startswith("video-dwise"):
        given = {} if args.ema is None else {"ema_decay": args.ema}
        if args.dwise_lr is not None:
            given["lr"] = args.dwise_lr
        config = recipe("dwise", max_epochs=args.dwise_epochs, **given, **common)
        model_config = args.dwise_config
        frames = apply_overrides(default_config(name), model_config, where=name).core.window_frames
    else:
        config = TrainConfig(max_epochs=args.epochs, optimizer="adamw", lr=args.lr, **common)
        frames = args.frames

    def log(line: str) -> None:  # stdout holds the JSON; models may train side by side
        print(f"[{name}] {line}", file=sys.stderr, flush=True)

    start = time.perf_counter()
    result = fit(
        paths,
        name,
        args.work / f"{name}-{args.size}",
        config,
        cache_dir=args.work / "cache",
        frames=frames,
        log=log,
        **model_config,
    )
    train_s = time.perf_counter() - start
    epochs = [h for h in result.history if h["epoch"] > 0]
    return {
        "model": name,
        "size": args.size,
        "recipe": {
            k: getattr(config, k)
            for k in (
                "optimizer",
                "lr",
                "schedule",
                "batch_size",
                "max_epochs",
                "ema_decay",
                "cutmix_prob",
                "bf16",
            )
        },
        "window_frames": frames,
        "model_config": model_config,
        "parameters": sum(p.numel() for p in result.model.parameters()),
        "epochs": len(epochs),
        "stop_reason": result.stop_reason,
        "best_epoch": result.best_epoch,
        "best_oracle_correlation": result.best_correlation,
        "seconds_per_epoch": [round(float(h["seconds"]), 1) for h in epochs],
        "train_wall_s": round(train_s, 1),
        "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "scores": track_scores(result.model, paths, args.work / "cache"),
    }


def _share_s(args: argparse.Namespace) -> float:
    """Seconds of wall-clock time each model trains for: its share of the budget."""
    return args.budget_minutes * 60.0 * min(args.jobs, len(args.models)) / len(args.models)


def _build_caches(args: argparse.Namespace, paths: list[Path]) -> None:
    """Build every recording's cache once, before models that read it train side by side."""
    from neurotwin.data.cache import cache_for
    from neurotwin.data.recording import open_recording
    from neurotwin.train.fitting import model_image_size

    for path in paths:
        recording = open_recording(path)
        cache_for(recording, model_image_size(recording), args.work / "cache", progress=False)


def _train_all(args: argparse.Namespace) -> dict[str, Any]:
    """Run one child process per model, ``--jobs`` at a time; each prints its JSON."""
    threads = args.threads or max(1, (os.cpu_count() or 1) // min(args.jobs, len(args.models)))
    waiting = list(args.models)
    running: dict[str, subprocess.Popen[str]] = {}
    results: dict[str, Any] = {}
    while waiting or running:
        while waiting and len(running) < args.jobs:
            name = waiting.pop(0)
            child = [sys.executable, __file__, *sys.argv[1:], "--one", name]
            child += ["--threads", str(threads)]  # argparse keeps the last one given
            running[name] = subprocess.Popen(child, stdout=subprocess.PIPE, text=True)
        name = next((n for n, p in running.items() if p.poll() is not None), None)
        if name is None:  # none has ended yet
            time.sleep(1.0)
            continue
        process = running.pop(name)
        out, _ = process.communicate()
        if process.returncode != 0:
            for other in running.values():
                other.kill()
            raise SystemExit(f"training {name} failed (exit {process.returncode})")
        results[name] = json.loads(out.splitlines()[-1])
    return {name: results[name] for name in args.models}


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 3)


def main() -> None:
    args = _arguments()
    if args.one is not None:
        print(json.dumps(_train_one(args)))
        return
    started = time.perf_counter()
    paths = _mice(args)
    simulate_s = time.perf_counter() - started
    if args.jobs > 1:
        _build_caches(args, paths)
    results = _train_all(args)

    from neurotwin.models import Ensemble, load_model

    baselines = [n for n in args.models if not n.startswith("video-dwise")]
    members = [load_model(args.work / f"{n}-{args.size}" / "model.pt") for n in baselines]
    if len(members) > 1:
        start = time.perf_counter()
        results["ensemble"] = {
            "members": baselines,
            "scores": track_scores(Ensemble(members), paths, args.work / "cache"),
            "score_wall_s": round(time.perf_counter() - start, 1),
        }
    main_live = {
        n: r["scores"]["video-main"]["live"]["fraction_of_ceiling"] for n, r in results.items()
    }
    best = max(baselines, key=lambda n: main_live[n] or 0.0) if baselines else None
    ratios = {}
    for dwise in (n for n in args.models if n.startswith("video-dwise")):
        if best is None:
            break
        ratios[dwise] = {
            f"{track}/{phase}": _ratio(
                results[dwise]["scores"][track][phase]["value"],
                results[best]["scores"][track][phase]["value"],
            )
            for track in TRACKS
            for phase in results[best]["scores"][track]
        }
    print(
        json.dumps(
            {
                "preset": args.preset,
                "simulation_overrides": args.simulation,
                "mice": [p.name for p in paths],
                "budget_minutes": args.budget_minutes,
                "jobs": args.jobs,
                "train_share_minutes_each": round(_share_s(args) / 60.0, 2),
                "cpus": os.cpu_count(),
                "load_average_1min": os.getloadavg()[0],
                "simulate_s": round(simulate_s, 1),
                "models": results,
                "main_live_fraction_of_ceiling": main_live,
                "best_baseline": best,
                "goal_60_percent_of_ceiling_met": bool(best and (main_live[best] or 0.0) >= 0.6),
                "dwise_over_best_baseline": ratios,
                "device": args.device,
                "wall_s": round(time.perf_counter() - started, 1),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
