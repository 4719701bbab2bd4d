"""Make the pretrained weights shipped in ``neurotwin/models/weights/``.

Trains each named baseline on the built-in demo mouse (simulator preset ``demo``, seed 0)
with the 2022 kit's recipe (at most ``--epochs`` epochs), scores it on its track's test
tiers beside the exact ceilings, and writes ``{name}.pt`` and ``{name}.json`` (how it was
made and what it scored). ``tests/models/test_pretrained.py`` checks that the shipped files
still load and score what the JSON says. Runs are resumable under ``--work``. Prints JSON.

    python benchmarks/pretrain.py [--models sensorium sensorium+] [--epochs 12]

``--attach-normalization`` trains nothing: it gives the shipped files the demo mouse's input
normalisation (files made before models saved it) and rewrites them, weights unchanged.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import cast

import torch

import neurotwin
from neurotwin.models import (
    WEIGHTS_DIR,
    TwinModule,
    attach_normalization,
    load_pretrained,
    save_model,
)
from neurotwin.simulate import simulate_static
from neurotwin.submit import evaluate
from neurotwin.train import TrainConfig, fit

PRESET, SEED = "demo", 0
TRACKS = {"sensorium": "sensorium", "sensorium+": "sensorium+",
          "sensorium-ln": "sensorium", "sensorium+-ln": "sensorium+"}  # fmt: skip


def demo_mouse(work: Path) -> Path:
    data = work / f"data-{PRESET}-seed{SEED}"
    (simulated,) = simulate_static(data, preset=PRESET, seed=SEED, reuse=True)
    return simulated.path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["sensorium", "sensorium+"])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=128)
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
    path = demo_mouse(args.work)
    if args.attach_normalization:
        for name in args.models:
            model = attach_normalization(load_pretrained(name), path)
            save_model(model, WEIGHTS_DIR / f"{name}.pt")
        print(json.dumps({"attached": args.models, "recording": path.name}))
        return
    records = {}
    for name in args.models:
        config = TrainConfig(
            max_epochs=args.epochs,
            batch_size=args.batch_size,
            compile=args.compile,
            device="cpu",
            progress=False,
        )
        start = time.perf_counter()
        run = args.run if args.run is not None else args.work / name
        result = fit(path, name, run, config, cache_dir=args.work / "cache", log=print)
        model = cast(TwinModule, result.model)
        report = evaluate(model, path, TRACKS[name], cache_dir=args.work / "cache")
        record = {
            "model": name,
            "track": TRACKS[name],
            "data": {"preset": PRESET, "seed": SEED, "recording": path.name},
            "train": config.to_dict(),
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
            "scores": {
                phase: {
                    metric: {"value": m.value, "ceiling": m.ceiling, "normalized": m.normalized}
                    for metric, m in phase_score.metrics.items()
                }
                for phase, phase_score in report.phases.items()
            },
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
