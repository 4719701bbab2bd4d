"""Predicting a test tier on a CPU with and without glibc keeping freed memory for reuse.

Each mode runs in a fresh process (the allocator setting is per process and stays): it
loads a saved model, predicts one tier of one recording with
:func:`neurotwin.submit.predict_tiers` and reports the wall, user and system seconds. The
``default`` mode leaves glibc's defaults (as ``keep_freed_memory=False`` would), so it shows
what prediction cost before :func:`neurotwin.train.predict` applied the setting;
``same_predictions`` compares the two modes' predictions. Prints one JSON object.

    python benchmarks/predict_speed.py MODEL.pt RECORDING [--tier live_test_main]
        [--threads 2] [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a saved model (model.pt)")
    parser.add_argument("recording", help="a recording folder the model has a readout for")
    parser.add_argument("--tier", default="live_test_main")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache", default=None)
    parser.add_argument("--mode", choices=["keep", "default"], help=argparse.SUPPRESS)
    parser.add_argument("--save", help=argparse.SUPPRESS)
    return parser.parse_args()


def _one(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from neurotwin.models import load_model
    from neurotwin.submit import predict_tiers
    from neurotwin.train import allocator

    torch.set_num_threads(args.threads)
    if args.mode == "default":  # what predict did before it kept freed memory
        allocator.keep_freed_memory = lambda: False
    model = load_model(args.model)
    start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    out = predict_tiers(model, args.recording, [args.tier], cache_dir=args.cache)
    after = resource.getrusage(resource.RUSAGE_SELF)
    np.save(args.save, np.asarray(out[args.tier].values, dtype=np.float32))
    return {
        "mode": args.mode,
        "trials": len(out[args.tier].values),
        "wall_s": round(time.perf_counter() - start, 1),
        "user_s": round(after.ru_utime - before.ru_utime, 1),
        "system_s": round(after.ru_stime - before.ru_stime, 1),
    }


def main() -> None:
    args = _arguments()
    if args.mode is not None:
        print(json.dumps(_one(args)))
        return
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        for mode in ("keep", "default"):
            save = f"{folder}/{mode}.npy"
            out = subprocess.run(
                [sys.executable, __file__, *sys.argv[1:], "--mode", mode, "--save", save],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            results[mode] = json.loads(out.splitlines()[-1])
        same = np.array_equal(np.load(f"{folder}/keep.npy"), np.load(f"{folder}/default.npy"))
    results["same_predictions"] = bool(same)
    results["default_over_keep_wall"] = round(
        results["default"]["wall_s"] / results["keep"]["wall_s"], 2
    )
    json.dump(results, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
