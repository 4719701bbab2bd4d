"""Sub-commands of the scorer: ``score``, ``make-truth`` and ``tracks``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from neurotwin.scoring.tracks import get_track, list_tracks


def register(subparsers: Any) -> None:
    """Add the scoring sub-commands to the command line."""
    p = subparsers.add_parser(
        "score",
        help="score a submission on a track",
        description="Score a submission (file, folder or zip) against a track's ground truth "
        "and print a table, or JSON with --json.",
    )
    p.add_argument("--track", required=True, choices=list_tracks())
    p.add_argument(
        "--truth",
        required=True,
        nargs="+",
        help="a ground-truth file (.npz), recording folder(s) whose scored tiers hold "
        "their responses or the simulator's {name}.truth folder(s) (video: one per mouse); "
        "a tier without responses is left out with a note",
    )
    p.add_argument(
        "--submission",
        required=True,
        help="submission file, folder or zip (holding one phase's file or both)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--per-neuron", action="store_true", help="JSON: include per-neuron values")
    p.add_argument(
        "--per-frame",
        action="store_true",
        help="video recordings: normalise per frame like the official 2023 scorer",
    )
    p.set_defaults(func=_score)

    t = subparsers.add_parser(
        "make-truth",
        help="cut a track's ground-truth file from recordings",
        description="Write the ground truth of a track from full recordings, or from "
        "recordings plus the simulator's {name}.truth/ folders (found beside them).",
    )
    t.add_argument("--track", required=True, choices=list_tracks())
    t.add_argument("--recording", required=True, nargs="+", help="recording folder(s)")
    t.add_argument("--simulator-truth", nargs="+", help="{name}.truth folder per recording")
    t.add_argument("--per-frame", action="store_true", help="video: per-frame normalisation")
    t.add_argument("--out", required=True, help="the .npz file to write")
    t.set_defaults(func=_make_truth)

    ls = subparsers.add_parser("tracks", help="list the benchmark's tracks")
    ls.add_argument("--json", action="store_true", help="print JSON instead of text")
    ls.set_defaults(func=_tracks)


def _score(args: argparse.Namespace) -> int:
    from neurotwin.scoring.scorer import score

    truth = args.truth[0] if len(args.truth) == 1 else args.truth
    report = score(args.track, truth, args.submission, per_frame=args.per_frame)
    if args.json:
        print(json.dumps(report.to_dict(per_neuron=args.per_neuron), indent=2))
        return 0
    print(report.table())
    return 0


def _make_truth(args: argparse.Namespace) -> int:
    from neurotwin.scoring.truth import make_truth
    from neurotwin.scoring.truth_file import save_truth

    truth = make_truth(
        args.track, args.recording, simulator=args.simulator_truth, per_frame=args.per_frame
    )
    path = save_truth(truth, args.out)
    tiers = ", ".join(f"{m.name}: {list(m.tiers)}" for m in truth.mice)
    print(f"wrote {path} ({args.track}; {tiers}; exact ceiling: {truth.has_rates})")
    for note in truth.notes:
        print(f"note: {note}")
    return 0


def _tracks(args: argparse.Namespace) -> int:
    tracks = [get_track(t).to_dict() for t in list_tracks()]
    if args.json:
        print(json.dumps(tracks, indent=2))
        return 0
    for t in tracks:
        print(f"{t['identifier']:<12} v{t['version']}  {t['description']}")
    return 0
