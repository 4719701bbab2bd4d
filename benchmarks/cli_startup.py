"""Time how long ``neurotwin`` commands take to start; prints JSON.

Each command runs in a fresh interpreter (as from a shell) several times; the median wall
time is reported with the heavy libraries the command imported. ``--src`` measures another
source tree (e.g. an older checkout) with the same interpreter.

Run: ``python benchmarks/cli_startup.py [--src PATH] [--repeats N]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HEAVY = ("torch", "skimage", "scipy", "pandas", "pyarrow", "matplotlib")
COMMANDS = (["tracks"], ["--help"], ["models", "--help"])


def measure(argv: list[str], src: str | None, repeats: int) -> dict[str, object]:
    """Median seconds of ``neurotwin ARGV`` in a fresh interpreter, and what it imported."""
    script = (
        "import sys, io, contextlib\n"
        "from neurotwin.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        main({argv!r})\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    times, imported = [], ""
    for _ in range(repeats):
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        times.append(time.perf_counter() - start)
        imported = out.stdout.strip().splitlines()[-1]
    return {
        "command": " ".join(argv),
        "median_s": round(statistics.median(times), 3),
        "imported": imported,
    }


def main() -> None:
    """Print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--src", default=None, help="a src/ folder to measure instead")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    results = [measure(list(c), args.src, args.repeats) for c in COMMANDS]
    print(json.dumps({"src": args.src or "installed", "results": results}, indent=2))


if __name__ == "__main__":
    main()
