"""What verifying a cache costs: the cheap check of every use against a full re-hash.

Builds the cache of a simulated static mouse (``--trials`` images at ``--size``), then
times, best of ``--repeats``:

- ``cheap_check_s``: what every ``cache_for`` does (headers, sizes, one ``stat`` per file);
- ``full_verify_s``: what ``neurotwin cache`` does (SHA-256 of every file, page cache warm);
- ``hash_gb_per_s``: the full verification's throughput, to scale to a real cache.

Prints JSON.

    python benchmarks/cache_verify.py [--trials 2000] [--size 144 256] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from neurotwin.data import cache_for, open_recording
from neurotwin.data.cache import cache_problem
from neurotwin.simulate import simulate_static


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000, help="training images")
    parser.add_argument("--size", type=int, nargs=2, default=(144, 256), help="cached size")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        (simulated,) = simulate_static(
            root / "mouse",
            preset="tiny",
            seed=0,
            train=args.trials,
            validation=10,
            neurons=100,
            test_images=2,
            test_repeats=2,
        )
        recording = open_recording(simulated.path)
        hw = (int(args.size[0]), int(args.size[1]))
        cache = cache_for(recording, hw, root / "cache", progress=False)
        size = sum(f.stat().st_size for f in cache.path.glob("*.npy"))
        timings = {}
        for name, verify in (("cheap_check_s", False), ("full_verify_s", True)):
            best = float("inf")
            for _ in range(args.repeats):
                start = time.perf_counter()
                assert cache_problem(cache.path, cache.meta, verify=verify) is None
                best = min(best, time.perf_counter() - start)
            timings[name] = best
    result = {
        "cache_bytes": size,
        **timings,
        "hash_gb_per_s": size / timings["full_verify_s"] / 1e9,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
