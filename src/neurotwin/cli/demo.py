"""``neurotwin demo``: the README's main job."""

from __future__ import annotations

import argparse
import time
from typing import Any

from neurotwin.cli.train import duration


def register(subparsers: Any) -> None:
    """Add ``demo`` to the command line."""
    p = subparsers.add_parser(
        "demo",
        help="simulate a mouse, train the sensorium+ (--video: video-gru) baseline, submit, "
        "score, write a report",
        description="The main job on the built-in default: simulate the demo mouse (or reuse "
        "it), train the sensorium+ baseline, predict the two test tiers, write the submission "
        "files, score them beside the exact ceilings of the simulation and write an HTML "
        "report, all within a wall-clock budget (10 minutes by default): training stops after "
        "the last epoch that fits. A budget too short for one epoch trains none: the demo "
        "warns, scores the untrained model and says what budget would train one epoch; "
        "the steps besides training (simulating, caching, scoring, the report) are not "
        "shortened, so a budget shorter than them is overrun, and the summary says so. "
        "With --video, the same on the 2023 task: simulated video mice, the video-gru "
        "baseline, both video tracks (video-main, video-bonus) as submission zips, and the "
        "report's rates over time, out-of-domain classes and correlation against frame index.",
    )
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--preset", default="demo", choices=["tiny", "demo"], help="simulator preset")
    p.add_argument("--seed", type=int, default=0, help="simulation and training seed")
    p.add_argument("--epochs", type=int, default=None, help="most training epochs")
    p.add_argument(
        "--budget",
        type=duration,
        default=None,
        metavar="TIME",
        help="wall-clock budget of the whole demo (seconds, or 90s, 10m, 1h; default 10m)",
    )
    p.add_argument(
        "--no-budget", action="store_true", help="train the preset's epochs whatever they take"
    )
    p.add_argument(
        "--video",
        action="store_true",
        help="the 2023 video task: video mice, video-gru, the video-main and video-bonus tracks",
    )
    p.add_argument(
        "--mice",
        type=int,
        default=None,
        help="video: simulated mice sharing the model's core (default: the preset's, 1)",
    )
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    started = time.perf_counter()  # the budget counts importing torch (6-9 s on 2 busy cores)
    from neurotwin.demo import DEFAULT_BUDGET, run_demo

    budget = DEFAULT_BUDGET if args.budget is None else args.budget
    run_demo(
        args.out,
        preset=args.preset,
        seed=args.seed,
        epochs=args.epochs,
        budget=None if args.no_budget else budget,
        device=args.device,
        progress=not args.no_progress,
        started=started,
        video=args.video,
        mice=args.mice,
    )
    return 0
