"""A run's weight average (EMA) against its live weights, on the 2023 test tiers.

A run trained with ``ema_decay`` validates and saves the average of its weights; its
``checkpoint.pt`` holds both the average and the live weights of its last epoch. This
scores both on the named tracks (single-trial correlation of each tier, beside its exact
ceiling, per mouse and class, as ``video_accuracy.py`` reports them), so the cost of the
average (its lag behind weights that still move) or its gain is measured on the same
trials, not guessed. The model's architecture is read from the
run's ``model.pt``. Prints one JSON object.

    python benchmarks/ema_vs_live.py RUN MOUSE [MOUSE ...] [--tracks video-main video-bonus]
        [--threads 2] [--cache DIR]

For example, after ``benchmarks/video_accuracy.py --work W --models video-dwise-small``:
``python benchmarks/ema_vs_live.py W/video-dwise-small-small MOUSE... --cache W/cache``,
where the mice are the recording folders in ``W/data-benchmark-seed0`` the run trained on
(not their ``.truth`` siblings, which the scorer finds beside them).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder with model.pt and checkpoint.pt")
    parser.add_argument("mice", type=Path, nargs="+", help="the recordings to score on")
    parser.add_argument("--tracks", nargs="+", default=["video-main", "video-bonus"])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--cache", type=Path, default=None, help="the runs' cache folder")
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    import torch

    from neurotwin.errors import NeurotwinError
    from neurotwin.models.checkpoint import load_model
    from neurotwin.train.checkpoint import CHECKPOINT, load_checkpoint
    from video_accuracy import track_scores  # this folder's; the scores' layout is its

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    model = load_model(args.run / "model.pt")
    state = load_checkpoint(args.run / CHECKPOINT)
    if "ema" not in state:
        raise NeurotwinError(f"{args.run / CHECKPOINT}: the run kept no weight average")
    result: dict[str, Any] = {
        "run": str(args.run),
        "epoch": state["epoch"],
        "ema_decay": state["config"].get("ema_decay"),
        "ema_updates": state.get("ema_updates"),
    }
    for weights in ("ema", "model"):
        started = time.perf_counter()
        model.load_state_dict(state[weights])
        model.eval()
        label = "average" if weights == "ema" else "live"
        result[label] = track_scores(model, args.mice, args.cache, tuple(args.tracks))
        result[f"{label}_score_s"] = round(time.perf_counter() - started, 1)
    result["average_over_live"] = {
        f"{track}/{phase}": round(part["value"] / result["live"][track][phase]["value"], 3)
        for track, phases in result["average"].items()
        for phase, part in phases.items()
        if result["live"][track][phase]["value"]
    }
    json.dump(result, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
