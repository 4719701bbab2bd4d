"""The demo's wall-clock budget: total time, time per step, epochs and scores of one run.

Runs ``neurotwin demo`` (the demo preset, the default 10-minute budget) in a fresh folder,
whole, in this process, and prints one JSON object: the budget, the seconds the run took
(the interpreter's start and imports excluded), the seconds of each step, the epochs
trained and why training stopped, the compile decision and the test scores beside their
exact ceilings. A slower machine can be imitated with fewer torch threads (``--threads 1``
roughly halves the speed of a 2-core machine) or a shorter budget.

    python benchmarks/demo_budget.py [--out runs/demo-budget] [--budget 600] [--threads N]
        [--video [--mice N]]

``--video`` times ``neurotwin demo --video`` instead (both 2023 tracks' scores are printed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/demo-budget")
    parser.add_argument("--budget", type=float, default=600.0)
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="reuse what --out holds")
    parser.add_argument("--video", action="store_true", help="the video demo")
    parser.add_argument("--mice", type=int, default=None, help="video: simulated mice")
    args = parser.parse_args()

    import torch

    from neurotwin.demo import run_demo

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if not args.keep and os.path.exists(args.out):
        shutil.rmtree(args.out)
    start = time.perf_counter()
    log = lambda line: print(line, file=sys.stderr)  # noqa: E731 - stdout holds the JSON
    result = run_demo(
        args.out,
        preset=args.preset,
        budget=args.budget,
        progress=False,
        log=log,
        video=args.video,
        mice=args.mice,
    )
    elapsed = time.perf_counter() - start
    history = [
        json.loads(line)
        for line in (result.run / "metrics.jsonl").read_text().splitlines()
        if line.strip()
    ]
    scores: dict[str, Any] = {}
    for track, report in result.reports.items():
        for phase, part in report.phases.items():
            metric = part.metrics["single_trial_correlation"]
            entry = {"single_trial_correlation": metric.value, "exact_ceiling": metric.ceiling}
            scores[phase if len(result.reports) == 1 else f"{track} {phase}"] = entry
    print(
        json.dumps(
            {
                "preset": args.preset,
                "video": args.video,
                "budget_s": args.budget,
                "torch_threads": torch.get_num_threads(),
                "cpus": os.cpu_count(),
                "load_average_1min": os.getloadavg()[0],
                "elapsed_s": round(elapsed, 1),
                "steps_s": {k: round(v, 1) for k, v in result.steps.items()},
                "epochs": result.epochs,
                "stop_reason": result.stop_reason,
                "epoch_s": [round(h["seconds"], 1) for h in history],
                "compile_s": [
                    h.get("compile_seconds") for h in history if h.get("compile_seconds")
                ],
                "validation_correlation": [round(h["validation_correlation"], 4) for h in history],
                "scores": scores,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
