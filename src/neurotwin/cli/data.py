"""Sub-commands that inspect and prepare recordings: ``info``, ``validate``, ``cache``."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

from neurotwin.errors import NeurotwinError


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

    p = subparsers.add_parser(
        "validate",
        help="check a recording and list every problem",
        description="Read every file of a recording and list every problem found (errors, "
        "warnings, notes such as withheld responses), instead of stopping at the first. "
        "Every check runs (structure, parse, values, alignment) and all problems are "
        "reported together. Exits with status 1 when there is an error, 2 when the path "
        "cannot be read at all.",
    )
    p.add_argument("path", help="recording folder or zip")
    p.add_argument("--max", type=int, default=50, help="problems to print (default 50)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_validate)

    p = subparsers.add_parser(
        "cache",
        help="build the consolidated cache of recordings ahead of training",
        description="Build the memory-mapped cache that the loaders use, with the stimulus "
        "resized once, or verify an existing one: every file is checked against the "
        "checksums recorded when it was built, and a damaged cache (or one built before "
        "checksums were recorded) is rebuilt. The recording's statistics are checked too.",
    )
    p.add_argument("paths", nargs="+", help="recording folders or zips")
    p.add_argument(
        "--scale",
        type=float,
        default=None,
        help="resize factor of the stimulus, in (0, 1] (static default: 0.25)",
    )
    p.add_argument("--cache-dir", default=None, help="cache folder (default: user cache)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cache)


def _info(args: argparse.Namespace) -> int:
    from neurotwin.data.recording import open_recording
    from neurotwin.data.summary import summarize

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


def _validate(args: argparse.Namespace) -> int:
    from neurotwin.data.validate import validate_recording

    problems = validate_recording(args.path, progress=not args.no_progress)
    for problem in problems[: args.max]:
        print(f"{problem.severity:<7} {problem}")
    if len(problems) > args.max:
        print(f"... {len(problems) - args.max} more (raise --max to see them)")
    errors = sum(p.severity == "error" for p in problems)
    warnings = sum(p.severity == "warning" for p in problems)
    print(f"{args.path}: {errors} error(s), {warnings} warning(s)")
    return 1 if errors else 0


def _cache(args: argparse.Namespace) -> int:
    from neurotwin.data.cache import cache_bytes, cache_for, default_cache_dir
    from neurotwin.data.recording import open_recording

    if args.scale is not None and not 0 < args.scale <= 1:
        raise NeurotwinError(
            f"--scale must be in (0, 1] (a resize factor; 1 keeps the size), got {args.scale:g}"
        )
    for path in args.paths:
        recording = open_recording(path)
        scale = (
            args.scale if args.scale is not None else (1 if recording.layout.has_frames else 0.25)
        )
        h, w = recording.stimulus_hw
        hw = (max(1, round(h * scale)), max(1, round(w * scale)))
        needed = cache_bytes(recording, hw)
        root = Path(args.cache_dir) if args.cache_dir is not None else default_cache_dir()
        free = _free_bytes(root)
        if free is not None and needed > free:
            raise NeurotwinError(
                f"the cache of {recording.key} at {hw[0]} x {hw[1]} needs {needed / 1e9:.2f} GB "
                f"but {root} has {free / 1e9:.2f} GB free; use a smaller --scale or another "
                "--cache-dir"
            )
        cache = cache_for(recording, hw, args.cache_dir, progress=not args.no_progress, verify=True)
        print(f"{recording.key}: {cache.path} ({needed / 1e6:.1f} MB)")
    return 0


def _free_bytes(path: Path) -> int | None:
    """Free bytes on the disk holding ``path`` (or its nearest existing parent)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return shutil.disk_usage(candidate).free
    return None
