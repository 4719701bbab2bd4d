"""The ``neurotwin`` command line.

Each sub-module of this package contributes sub-commands through a ``register`` function;
they only parse arguments and call the library.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from neurotwin import __version__
from neurotwin.cli import data, demo, score, serve, simulate, train, twin
from neurotwin.errors import NeurotwinError

#: Modules whose ``register(subparsers)`` adds sub-commands, in the order ``--help`` lists them.
COMMAND_MODULES = (demo, simulate, data, train, twin, score, serve)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every sub-command.

    Returns
    -------
    argparse.ArgumentParser
        The top-level parser.
    """
    parser = argparse.ArgumentParser(
        prog="neurotwin",
        description="Digital twins of mouse visual cortex (SENSORIUM data, models, scoring).",
    )
    parser.add_argument("--version", action="version", version=f"neurotwin {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv
        Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns
    -------
    int
        The exit status: 0 on success, 1 when the command found problems, 2 on bad input.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except NeurotwinError as exc:
        print(f"neurotwin {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"neurotwin {args.command}: interrupted", file=sys.stderr)
        return 130
