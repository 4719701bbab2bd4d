"""Sub-commands that inspect recordings: ``info``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from neurotwin.data import open_recording
from neurotwin.data.summary import summarize


def register(subparsers: Any) -> None:
    """Add the data sub-commands to the command line."""
    p = subparsers.add_parser(
        "info",
        help="describe a recording (folder or zip)",
        description="Print neurons, trials per tier, repeats, stimulus size and statistics "
        "present of a SENSORIUM recording, static or video, folder or zip.",
    )
    p.add_argument("path", help="recording folder or zip")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument(
        "--lengths", action="store_true", help="video: scan every trial for its true length"
    )
    p.set_defaults(func=_info)


def _info(args: argparse.Namespace) -> int:
    info = summarize(open_recording(args.path), lengths=args.lengths)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['name']}  ({info['kind']}, key {info['key']})")
    print(f"  location     {info['location']}")
    print(f"  neurons      {info['neurons']}")
    print(f"  trials       {info['trials']}")
    for tier, count in info["tiers"].items():
        print(f"    {tier:<18} {count}")
    h, w = info["stimulus_size"]
    print(
        f"  stimulus     {h} x {w}"
        + (f", {info['padded_frames']} frames padded" if "padded_frames" in info else "")
    )
    if "frames" in info:
        f = info["frames"]
        print(f"  true length  {f['min']}..{f['max']} frames (median {f['median']:g})")
    for tier, r in info.get("repeats", {}).items():
        print(
            f"  repeats      {tier}: {r['stimuli']} images x {r['min']}..{r['max']} "
            f"(median {r['median']:g})"
        )
    print(f"  fields       {', '.join(info['fields'])}")
    print(f"  statistics   {', '.join(info['statistics']) or 'none'}")
    return 0
