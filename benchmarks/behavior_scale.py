"""Early learning curves of the behaviour models under each scale of the behaviour channels.

The 2022 kit feeds behaviour to the core as constant image channels. Through the 9x9 first
convolution such a channel adds the sum of a filter's 81 taps times the behaviour value, so
Adam moves the behaviour term 81 times faster than any one pixel's. This script trains each
variant below for a few epochs on the demo mouse and prints its validation correlation after
every epoch (epoch 0: untrained), one variant at a time, all from the same seed:

- ``sensorium`` and ``sensorium`` with the shifter (images only, for reference);
- ``sensorium+`` with the kit's scale 1, with and without the shifter;
- ``sensorium+`` with the behaviour channels times 1/9 and times 1/81 (its default);
- ``sensorium+-ln`` with scale 1 and 1/81 (its default).

Prints JSON.

    python benchmarks/behavior_scale.py [--epochs 6] [--work runs/behavior-scale]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

KIT = {"behavior_channel_scale": 1.0}
#: name -> (registered model, config overrides)
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "sensorium": ("sensorium", {}),
    "sensorium + shifter": ("sensorium", {"shifter": True}),
    "sensorium+ scale 1, no shifter": ("sensorium+", {**KIT, "shifter": False}),
    "sensorium+ scale 1": ("sensorium+", KIT),
    "sensorium+ scale 1/9": ("sensorium+", {"behavior_channel_scale": 1 / 9}),
    "sensorium+ scale 1/81": ("sensorium+", {"behavior_channel_scale": 1 / 81}),
    "sensorium+-ln scale 1": ("sensorium+-ln", KIT),
    "sensorium+-ln scale 1/81": ("sensorium+-ln", {"behavior_channel_scale": 1 / 81}),
}  # fmt: skip


def main() -> None:
    """Train every variant and print the learning curves as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--preset", default="demo", help="simulator preset")
    parser.add_argument("--work", type=Path, default=Path("runs/behavior-scale"))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args()

    from neurotwin.simulate import simulate_static
    from neurotwin.train import TrainConfig, fit

    (recording,) = simulate_static(
        args.work / f"data-{args.preset}", preset=args.preset, seed=0, reuse=True
    )
    recipe = TrainConfig(max_epochs=args.epochs, batch_size=64, progress=False, num_threads=2)
    curves: dict[str, Any] = {}
    for index, name in enumerate(args.variants):
        model, overrides = VARIANTS[name]
        start = time.perf_counter()
        run = fit(
            recording.path,
            model,
            args.work / f"variant-{index}",
            recipe,
            cache_dir=args.work / "cache",
            resume=False,
            log=None,
            **overrides,
        )
        curves[name] = {
            "model": model,
            "overrides": overrides,
            "validation_correlation": [round(h["validation_correlation"], 4) for h in run.history],
            "seconds": round(time.perf_counter() - start, 1),
        }
    print(json.dumps({"preset": args.preset, "epochs": args.epochs, "curves": curves}, indent=2))


if __name__ == "__main__":
    main()
