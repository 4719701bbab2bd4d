"""video-dwise against the kit's video-gru on a simulated mouse, under one CPU budget for both.

Simulates the simulator's video preset (``benchmark`` by default: 2,000 neurons, 160
training trials of 300-320 frames), trains each model with the same wall-clock training
budget (``--budget`` seconds, the trainer's ``time_limit``), then predicts the main and
bonus test tiers (live and final) and prints JSON: every tier's single-trial correlation
beside its exact ceiling (the simulator's true rates as prediction), the bonus tiers per
out-of-domain class, the seconds per epoch and the epochs trained.

    python benchmarks/dwise_accuracy.py [--preset benchmark] [--work DIR] [--budget 900]
        [--models video-dwise-small video-gru] [--threads 2] [--sim neurons=500 ...]
        [--live] [--slide-step N]

Only the final test tiers are scored unless ``--live`` is given.

video-dwise trains with the ``dwise`` recipe (:func:`neurotwin.train.optim.recipe`,
batches of ``--batch-size``, cosine over ``--dwise-epochs``) on windows of its own length;
video-gru with the kit's recipe (Adam, decay on plateau) on windows of 80 frames. Run
folders under ``--work`` are resumable: a finished run is only scored again.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

MAIN_TIERS = ("final_test_main", "live_test_main")
BONUS_TIERS = ("final_test_bonus", "live_test_bonus")


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def simulate(work: Path, preset: str, overrides: dict[str, Any]) -> Path:
    from neurotwin.simulate import simulate_video

    suffix = "".join(f"-{k}{v}" for k, v in sorted(overrides.items()))
    folder = work / f"data-{preset}{suffix}"
    (rec,) = simulate_video(folder, preset=preset, seed=0, reuse=True, **overrides)
    return Path(rec.path)


def train_model(name: str, path: Path, args: argparse.Namespace) -> Any:
    from neurotwin.models import default_config
    from neurotwin.train import TrainConfig, fit
    from neurotwin.train.optim import recipe

    common = {
        "device": "cpu",
        "progress": False,
        "num_threads": args.threads,
        "time_limit": args.budget or None,  # 0: no limit (epochs only)
        "batch_size": args.batch_size,
    }
    if name.startswith("video-dwise"):
        warmup: dict[str, Any] = {} if args.warmup is None else {"warmup_epochs": args.warmup}
        if args.ema is not None:
            warmup["ema_decay"] = args.ema
        config = recipe("dwise", max_epochs=args.dwise_epochs, **warmup, **common)
        frames = default_config(name).core.window_frames
    else:
        config = TrainConfig(max_epochs=args.epochs, **common)
        frames = 80

    def log(line: str) -> None:
        print(f"[{name}] {line}", file=sys.stderr, flush=True)

    overrides: dict[str, Any] = (
        {"core": {"slide_step": args.slide_step}} if args.slide_step and "dwise" in name else {}
    )
    return fit(
        path, name, args.work / f"run-{name}", config, cache_dir=args.work / "cache",
        frames=frames, log=log, **overrides,
    )  # fmt: skip


def tier_scores(model: Any, path: Path, args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from neurotwin.data import LoaderConfig, make_loaders
    from neurotwin.scoring.metrics import mean_over_neurons, video_correlation
    from neurotwin.scoring.truth import make_truth
    from neurotwin.train.config import TrainConfig
    from neurotwin.train.tasks import task_for_model

    hw = next(iter(model.infos.values())).image_hw
    count = 2 if args.live else 1  # the final tiers; --live adds the live ones
    main, bonus = MAIN_TIERS[:count], BONUS_TIERS[:count]
    config = LoaderConfig(
        batch_size=4,
        fields=model.required_fields,
        tiers=main + bonus,
        shuffle=False,
        size=hw,
    )
    loaders = make_loaders([path], config, cache_dir=args.work / "cache", progress=False)
    task = task_for_model(model, TrainConfig())
    key = next(iter(model.infos))
    out: dict[str, Any] = {}
    for track, tiers in (("video-main", main), ("video-bonus", bonus)):
        truth = make_truth(track, [path])
        (mouse,) = truth.mice
        for tier in tiers:
            if tier not in mouse.tiers or tier not in loaders:
                continue
            t = mouse.tiers[tier]
            start = time.perf_counter()
            pred = task.predict(model, loaders[tier][key], key, torch.device("cpu"))
            seconds = time.perf_counter() - start
            assert t.n_frames is not None and t.rates is not None and t.file_indices is not None
            pred = pred.in_file_order()
            order = np.searchsorted(pred.index, t.file_indices)
            values = pred.values[order]
            score = video_correlation(values, t.responses, t.n_frames)
            ceiling = video_correlation(t.rates, t.responses, t.n_frames)
            entry: dict[str, Any] = {
                "correlation": mean_over_neurons(score),
                "exact_ceiling": mean_over_neurons(ceiling),
                "trials": int(t.n_trials),
                "predict_seconds": round(seconds, 1),
            }
            if t.ood_class is not None:
                entry["per_class"] = {
                    str(c): {
                        "correlation": mean_over_neurons(
                            video_correlation(values[m], t.responses[m], t.n_frames[m])
                        ),
                        "exact_ceiling": mean_over_neurons(
                            video_correlation(t.rates[m], t.responses[m], t.n_frames[m])
                        ),
                    }
                    for c in sorted(set(t.ood_class.tolist()))
                    for m in [t.ood_class == c]
                }
            out[tier] = entry
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="benchmark")
    parser.add_argument("--work", type=Path, default=Path("dwise-benchmark"))
    parser.add_argument("--budget", type=float, default=900.0, help="training seconds per model")
    parser.add_argument("--models", nargs="+", default=["video-dwise-small", "video-gru"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=200, help="video-gru's epoch cap")
    parser.add_argument("--dwise-epochs", type=int, default=12, help="video-dwise's cosine")
    parser.add_argument("--live", action="store_true", help="score the live tiers too")
    parser.add_argument("--warmup", type=int, default=None, help="video-dwise's warm-up epochs")
    parser.add_argument("--ema", type=float, default=None, help="video-dwise's EMA decay")
    parser.add_argument(
        "--slide-step", type=int, default=None, help="video-dwise's sliding step (frames)"
    )
    parser.add_argument(
        "--sim", nargs="*", default=[], help="simulator overrides KEY=VALUE (neurons=500)"
    )
    args = parser.parse_args()
    overrides = dict(item.split("=", 1) for item in args.sim)
    overrides = {k: _value(v) for k, v in overrides.items()}
    args.work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    path = simulate(args.work, args.preset, overrides)
    result: dict[str, Any] = {
        "preset": args.preset,
        "simulator_overrides": overrides,
        "budget_seconds_per_model": args.budget,
        "threads": args.threads,
        "batch_size": args.batch_size,
        "simulate_seconds": round(time.perf_counter() - start, 1),
        "models": {},
    }
    for name in args.models:
        trained = train_model(name, path, args)
        epochs = [e for e in trained.history if e["epoch"] > 0]
        result["models"][name] = {
            "epochs": len(epochs),
            "seconds_per_epoch": round(float(np.mean([e["seconds"] for e in epochs])), 1)
            if epochs
            else None,
            "best_validation": trained.best_correlation,
            "stop_reason": trained.stop_reason,
            "parameters": sum(p.numel() for p in trained.model.parameters()),
            "tiers": tier_scores(trained.model, path, args),
        }
        print(json.dumps(result["models"][name], indent=1), file=sys.stderr, flush=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
