"""Make the pretrained weights shipped in ``neurotwin/models/weights/``.

Trains each named baseline on the built-in demo mouse (simulator preset ``demo``, seed 0)
with the 2022 kit's recipe (at most ``--epochs`` epochs), scores it on its track's test
tiers beside the exact ceilings, and writes ``{name}.pt`` and ``{name}.json`` (how it was
made and what it scored). ``tests/models/test_pretrained.py`` checks that the shipped files
still load and score what the JSON says. Runs are resumable under ``--work``. Prints JSON.

    python benchmarks/pretrain.py [--models sensorium sensorium+] [--epochs 12]

``--models video-gru`` makes the video demo's weights: the demo video mouse
(:data:`neurotwin.demo.VIDEO_SIMULATION`, seed 0), the video demo's recipe
(:data:`neurotwin.demo.VIDEO_RECIPES`: model config, training windows, AdamW), scored on both
2023 tracks (``video-main``, then ``video-bonus`` under ``other_tracks``). ``--epochs`` and
``--batch-size`` apply to it too when given.

``--attach-normalization`` trains nothing: it gives the shipped files the demo mouse's input
normalisation (files made before models saved it) and rewrites them, weights unchanged.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path
from typing import Any, cast

import torch

import neurotwin
from neurotwin.demo import VIDEO_RECIPES, VIDEO_SIMULATION, VIDEO_TRACKS
from neurotwin.models import (
    WEIGHTS_DIR,
    TwinModule,
    attach_normalization,
    load_pretrained,
    save_model,
)
from neurotwin.scoring.scores import ScoreReport
from neurotwin.simulate import simulate_static, simulate_video
from neurotwin.submit import evaluate
from neurotwin.train import TrainConfig, fit

PRESET, SEED = "demo", 0
TRACKS = {"sensorium": "sensorium", "sensorium+": "sensorium+",
          "sensorium-ln": "sensorium", "sensorium+-ln": "sensorium+",
          "video-gru": VIDEO_TRACKS[0]}  # fmt: skip
#: Models trained on the demo video mouse, and the other tracks they are scored on.
VIDEO_MODELS = {"video-gru": VIDEO_TRACKS[1:]}


def demo_mouse(work: Path) -> Path:
    data = work / f"data-{PRESET}-seed{SEED}"
    (simulated,) = simulate_static(data, preset=PRESET, seed=SEED, reuse=True)
    return simulated.path


def demo_video_mouse(work: Path) -> Path:
    """Return the video demo's mouse (``neurotwin demo --video``'s, seed 0)."""
    data = work / f"data-video-{PRESET}-seed{SEED}"
    overrides = VIDEO_SIMULATION[PRESET]
    (simulated,) = simulate_video(data, PRESET, SEED, 1, reuse=True, **overrides)
    return simulated.path


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def scores(report: ScoreReport) -> dict[str, dict[str, dict[str, float | None]]]:
    """Each phase's metrics: value, ceiling and fraction of it (the record's ``scores``)."""
    return {
        phase: {
            metric: {
                k: _finite(v)
                for k, v in (
                    ("value", m.value),
                    ("ceiling", m.ceiling),
                    ("normalized", m.normalized),
                )
            }
            for metric, m in phase_score.metrics.items()
        }
        for phase, phase_score in report.phases.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["sensorium", "sensorium+"])
    parser.add_argument("--epochs", type=int, default=None, help="default 12 (video: the recipe's)")
    parser.add_argument("--batch-size", type=int, default=None, help="default 128 (video: 8)")
    parser.add_argument("--compile", action="store_true", help="torch.compile (faster on CPU)")
    parser.add_argument("--work", type=Path, default=Path("runs/pretrain"))
    parser.add_argument(
        "--run",
        type=Path,
        default=None,
        help="train (or reuse) the run in this folder, e.g. the demo's runs/demo/run",
    )
    parser.add_argument(
        "--attach-normalization",
        action="store_true",
        help="train nothing: add the demo mouse's input normalisation to the shipped files",
    )
    args = parser.parse_args()
    if args.run is not None and len(args.models) != 1:
        parser.error("--run takes the run folder of one model: name it with --models")
    static = [name for name in args.models if name not in VIDEO_MODELS]
    path = demo_mouse(args.work) if static or args.attach_normalization else Path()
    if args.attach_normalization:
        for name in args.models:
            model = attach_normalization(load_pretrained(name), path)
            save_model(model, WEIGHTS_DIR / f"{name}.pt")
        print(json.dumps({"attached": args.models, "recording": path.name}))
        return
    records = {}
    for name in args.models:
        video = name in VIDEO_MODELS
        recipe: dict[str, Any] = dict(VIDEO_RECIPES[PRESET]) if video else {}
        model_config = dict(recipe.pop("model", {}))
        window = recipe.pop("frames", None)
        if video:
            recipe["seed"] = SEED  # as the video demo trains it
        recipe.update(
            max_epochs=recipe.get("max_epochs", 12), batch_size=recipe.get("batch_size", 128)
        )
        if args.epochs is not None:
            recipe["max_epochs"] = args.epochs
        if args.batch_size is not None:
            recipe["batch_size"] = args.batch_size
        config = TrainConfig(compile=args.compile, device="cpu", progress=False, **recipe)
        start = time.perf_counter()
        mouse = demo_video_mouse(args.work) if video else path
        run = args.run if args.run is not None else args.work / name
        result = fit(
            mouse,
            name,
            run,
            config,
            cache_dir=args.work / "cache",
            log=print,
            frames=window,
            **model_config,
        )
        model = cast(TwinModule, result.model)
        report = evaluate(model, mouse, TRACKS[name], cache_dir=args.work / "cache")
        data: dict[str, Any] = {"preset": PRESET, "seed": SEED, "recording": mouse.name}
        if video:
            data.update(kind="video", overrides=VIDEO_SIMULATION[PRESET])
        record = {
            "model": name,
            "track": TRACKS[name],
            "data": data,
            # the recipe the run trained with, as its folder records it (a reused --run,
            # e.g. the demo's, may differ from this script's: a time limit, its window)
            "train": json.loads((run / "config.json").read_text())["train"],
            "epochs_trained": len(result.history) - 1,
            "best_epoch": result.best_epoch,
            "best_validation_correlation": result.best_correlation,
            "stop_reason": result.stop_reason,
            "train_seconds": sum(h["seconds"] for h in result.history),
            "made_with": {
                "neurotwin": neurotwin.__version__,
                "torch": torch.__version__,
                "machine": platform.machine(),
                "wall_seconds": time.perf_counter() - start,
            },
            "model_config": model_config,
            "scores": scores(report),
        }
        if video:
            record["other_tracks"] = {
                track: scores(evaluate(model, mouse, track, cache_dir=args.work / "cache"))
                for track in VIDEO_MODELS[name]
            }
        WEIGHTS_DIR.mkdir(exist_ok=True)
        save_model(model, WEIGHTS_DIR / f"{name}.pt")
        tmp = WEIGHTS_DIR / f".{name}.json.tmp"
        tmp.write_text(json.dumps(record, indent=2) + "\n")
        tmp.replace(WEIGHTS_DIR / f"{name}.json")
        records[name] = record
    print(json.dumps(records, indent=2))


if __name__ == "__main__":
    main()
