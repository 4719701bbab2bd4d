"""``neurotwin demo``: the README's main job."""

from __future__ import annotations

import argparse
from typing import Any

from neurotwin.demo import run_demo


def register(subparsers: Any) -> None:
    """Add ``demo`` to the command line."""
    p = subparsers.add_parser(
        "demo",
        help="simulate a mouse, fit a baseline, write a submission and score it",
        description="The main job on the built-in default: simulate the demo mouse (or reuse "
        "it), fit the baseline, predict the two test tiers, write the sensorium+ submission "
        "files and score them beside the exact ceilings of the simulation.",
    )
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--preset", default="demo", choices=["tiny", "demo"], help="simulator preset")
    p.add_argument("--seed", type=int, default=0, help="simulation seed")
    p.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    run_demo(args.out, preset=args.preset, seed=args.seed)
    return 0
