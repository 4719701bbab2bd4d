"""Accuracy of the static baselines on a simulated mouse, each score beside its exact ceiling.

Trains the two track baselines (``sensorium``: images only; ``sensorium+``: images, behaviour,
eye position), their LN variants and an ensemble of ``sensorium+`` members on the
simulator's ``benchmark`` preset (8,000 neurons), scores every model on its track's two test
tiers against the exact ceilings, and checks the goals:

- the ``sensorium+`` baseline reaches at least 70% of the exact single-trial ceiling (test);
- the ensemble beats its best member;
- behaviour and eye position raise the ceiling-normalised score over the images-only model.

Every model trains in its own subprocess (its peak memory is its own) into a resumable run
folder under ``--work``: an interrupted benchmark continues where it stopped, and finished
runs are only scored again. Each model's epochs are logged to stderr as they finish; the
JSON goes to stdout.

    python benchmarks/static_accuracy.py [--preset benchmark] [--work DIR] [--epochs 200]
        [--members 5] [--member-epochs N] [--epochs-of NAME=N ...] [--device auto]
        [--compile] [--models sensorium+ sensorium ensemble ...]

``--epochs`` caps every model, ``--member-epochs`` every ensemble member and ``--epochs-of``
single models (``--epochs-of sensorium-ln=6``); a finished run given a larger cap trains on.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

BASELINES = {
    "sensorium": "sensorium",
    "sensorium+": "sensorium+",
    "sensorium-ln": "sensorium",
    "sensorium+-ln": "sensorium+",
}
ENSEMBLE_MODEL = "sensorium+"


def recording(work: Path, preset: str) -> Path:
    from neurotwin.simulate import simulate_static

    (simulated,) = simulate_static(work / f"data-{preset}", preset=preset, seed=0, reuse=True)
    return simulated.path


def scores(model: Any, path: Path, track: str, work: Path) -> dict[str, Any]:
    from neurotwin.submit import evaluate

    report = evaluate(model, path, track, cache_dir=work / "cache")
    out: dict[str, Any] = {}
    for phase, result in report.phases.items():
        out[phase] = {
            name: {
                "value": metric.value,
                "ceiling": metric.ceiling,
                "fraction": metric.normalized,
                "ceiling_kind": metric.ceiling_kind,
            }
            for name, metric in result.metrics.items()
        }
    return out


def _log(name: str) -> Any:
    def say(line: str) -> None:
        print(f"[{name}] {line}", file=sys.stderr, flush=True)

    return say


def train_one(args: argparse.Namespace) -> dict[str, Any]:
    from neurotwin.train import TrainConfig, fit, fit_ensemble

    path = recording(args.work, args.preset)
    config = TrainConfig(
        max_epochs=args.epochs, device=args.device, compile=args.compile, progress=False
    )
    start = time.perf_counter()
    if args.one == "ensemble":
        epochs = args.member_epochs or args.epochs
        config = TrainConfig(
            max_epochs=epochs, device=args.device, compile=args.compile, progress=False
        )
        result = fit_ensemble(
            path,
            ENSEMBLE_MODEL,
            args.work / "ensemble",
            args.members,
            config,
            cache_dir=args.work / "cache",
            log=_log(args.one),
        )
        from neurotwin.models import Ensemble, TwinModule

        twins = [cast(TwinModule, m) for m in result.members]
        members = [scores(m, path, "sensorium+", args.work) for m in twins]
        histories = [r.history for r in result.results]
        summary: dict[str, Any] = {
            "members": members,
            "ensemble": scores(Ensemble(twins), path, "sensorium+", args.work),
        }
    else:
        run = fit(
            path,
            args.one,
            args.work / args.one,
            config,
            cache_dir=args.work / "cache",
            log=_log(args.one),
        )
        histories = [run.history]
        summary = {"scores": scores(run.model, path, BASELINES[args.one], args.work)}
    epochs = [h["seconds"] for history in histories for h in history if h["epoch"] > 0]
    summary.update(
        {
            "epochs_trained": [len(h) - 1 for h in histories],
            "seconds_per_epoch": sum(epochs) / len(epochs) if epochs else None,
            "seconds": time.perf_counter() - start,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )
    return summary


def live(scores: dict[str, Any], key: str = "fraction") -> float:
    value: float = scores["live"]["single_trial_correlation"][key]
    return value


def epoch_caps(args: argparse.Namespace) -> dict[str, int]:
    """Return the ``--epochs-of`` caps by model name; exit with a message on a bad one."""
    caps: dict[str, int] = {}
    for item in args.epochs_of:
        name, _, value = item.partition("=")
        if name not in [*BASELINES] or not value.isdigit() or int(value) < 1:
            sys.exit(
                f"static_accuracy: --epochs-of takes NAME=N with NAME one of "
                f"{', '.join(BASELINES)} and N a positive whole number; got {item!r}"
            )
        caps[name] = int(value)
    return caps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="benchmark", help="simulator preset")
    parser.add_argument("--work", type=Path, default=Path("runs/static-accuracy"))
    parser.add_argument("--epochs", type=int, default=200, help="most epochs of every model")
    parser.add_argument("--members", type=int, default=5, help="ensemble members")
    parser.add_argument(
        "--member-epochs", type=int, help="most epochs of every ensemble member (default --epochs)"
    )
    parser.add_argument(
        "--epochs-of", nargs="+", default=[], metavar="NAME=N", help="most epochs of one model"
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--compile", action="store_true", help="torch.compile the models")
    parser.add_argument("--models", nargs="+", default=[*BASELINES, "ensemble"])
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(train_one(args)))
        return
    path = recording(args.work, args.preset)
    caps = epoch_caps(args)
    results: dict[str, Any] = {}
    for name in args.models:
        command = [sys.executable, __file__, "--one", name, "--preset", args.preset]
        command += ["--work", str(args.work), "--epochs", str(caps.get(name, args.epochs))]
        command += ["--members", str(args.members), "--device", args.device]
        command += ["--member-epochs", str(args.member_epochs)] if args.member_epochs else []
        command += ["--compile"] if args.compile else []
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True)  # stderr: the log
        if done.returncode != 0:
            sys.exit(
                f"static_accuracy: training or scoring {name!r} failed (exit "
                f"{done.returncode}); its messages are above. Finished runs in {args.work} "
                "are kept."
            )
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        results[name]["max_epochs"] = (
            args.member_epochs or args.epochs if name == "ensemble" else caps.get(name, args.epochs)
        )
    goals: dict[str, Any] = {}
    if "sensorium+" in results:
        goals["sensorium+_at_least_70%_of_ceiling"] = live(results["sensorium+"]["scores"]) >= 0.7
    if "sensorium" in results and "sensorium+" in results:
        goals["behaviour_raises_normalised_score"] = live(results["sensorium+"]["scores"]) > live(
            results["sensorium"]["scores"]
        )
    if "ensemble" in results:
        best = max(live(m, "value") for m in results["ensemble"]["members"])
        goals["ensemble_beats_best_member"] = live(results["ensemble"]["ensemble"], "value") > best
    print(
        json.dumps(
            {
                "recording": str(path),
                "preset": args.preset,
                "max_epochs": args.epochs,
                "member_max_epochs": args.member_epochs or args.epochs,
                "epochs_of": caps,
                "results": results,
                "goals": goals,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
