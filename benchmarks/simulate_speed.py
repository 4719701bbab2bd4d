"""Time and peak memory of generating the benchmark preset of each release.

Run ``python benchmarks/simulate_speed.py [--preset benchmark] [--out DIR]``; prints one JSON
object. Each release runs in a fresh subprocess so that peak RSS is measured per release.
Targets: under 180 s and a few GiB each on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time


def run_one(kind: str, preset: str, out: str) -> dict[str, object]:
    from neurotwin.simulate import simulate_static, simulate_video

    simulate = simulate_static if kind == "static" else simulate_video
    started = time.perf_counter()
    (recording,) = simulate(out, preset=preset, seed=0, overwrite=True)
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    info = json.loads((recording.truth / "simulation.json").read_text())
    config = info["config"]
    trials = len(__import__("numpy").load(recording.truth / "tiers.npy"))
    return {
        "kind": kind,
        "preset": preset,
        "neurons": config["neurons"],
        "trials": trials,
        "seconds": round(seconds, 1),
        "peak_rss_gib": round(peak_kib / 2**20, 2),
        "ceiling_mean": {k: round(v, 3) for k, v in info["ceiling_mean"].items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="benchmark")
    parser.add_argument("--out", default=None, help="folder to write into (default: a temp dir)")
    parser.add_argument("--one", choices=["static", "video"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="neurotwin-simulate-speed-")
    if args.one:
        print(json.dumps(run_one(args.one, args.preset, out)))
        return
    results = []
    try:
        for kind in ("static", "video"):
            cmd = [sys.executable, __file__, "--one", kind, "--preset", args.preset, "--out", out]
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)
    print(json.dumps({"benchmark": "simulate_speed", "results": results}, indent=2))


if __name__ == "__main__":
    main()
