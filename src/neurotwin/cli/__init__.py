"""The ``neurotwin`` command line.

Each sub-module of this package contributes sub-commands through a ``register`` function;
they only parse arguments and call the library, importing it when a command runs (so that
``neurotwin tracks`` or ``--help`` start without importing torch).

Exit status (also in ``docs/cli.md``):

- 0: success;
- 1: the command ran and found problems (``validate`` found an error);
- 2: bad input or environment: a refused file or argument, a full disk, a missing
  permission (one line on stderr names the file and the problem);
- 3: internal error: a bug in neurotwin (the traceback is printed; please report it);
- 130: interrupted (Ctrl-C); 141: the output pipe was closed (``... | head``).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from neurotwin import __version__
from neurotwin.cli import data, demo, imaging, neuroreg, score, serve, simulate, train, twin
from neurotwin.errors import (
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    NeurotwinError,
    quote_untrusted,
)

#: Modules whose ``register(subparsers)`` adds sub-commands, in the order ``--help`` lists them.
COMMAND_MODULES = (demo, simulate, data, train, twin, score, imaging, serve, neuroreg)
#: Exit status when the reader of our output went away (128 + SIGPIPE, as shells report it).
EXIT_BROKEN_PIPE = 141


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
        epilog="Exit status: 0 success, 1 problems found (validate), 2 bad input or "
        "environment (one-line error), 3 internal error (a bug), 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"neurotwin {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def os_error_message(exc: OSError) -> str:
    """Describe an operating-system error in one line: what failed, on which file.

    Parameters
    ----------
    exc
        The error (a full disk, a missing permission, a file that vanished...).

    Returns
    -------
    str
        ``"/path/file: No space left on device"`` and, for a full disk, what to do.
    """
    what = exc.strerror or str(exc) or type(exc).__name__
    where = f"{quote_untrusted(exc.filename, 200)}: " if exc.filename else ""
    hint = ""
    if exc.errno in (28, 122):  # ENOSPC, EDQUOT
        hint = " (free some space and run the command again; finished files were kept)"
    return f"{where}{what}{hint}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv
        Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns
    -------
    int
        The exit status: 0 on success, 1 when the command found problems, 2 on bad input
        or a failing environment, 3 on an internal error, 130 when interrupted, 141 when
        the output pipe closed early.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    prefix = f"neurotwin {args.command}:"
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warnings(prefix)
            status = int(args.func(args))
        sys.stdout.flush()  # a closed pipe shows up here rather than at exit
        return status
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except NeurotwinError as exc:
        print(f"{prefix} error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        print(f"{prefix} error: {os_error_message(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"{prefix} interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception:
        import traceback

        traceback.print_exc()
        print(
            f"{prefix} internal error (a bug in neurotwin; please report it with the "
            "traceback above)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def _one_line_warnings(prefix: str) -> Callable[..., None]:
    """Return a ``warnings.showwarning`` that prints ``{prefix} warning: message``.

    A command's warnings (a cache rebuilt, trials skipped) are notices to its user: one
    line on stderr, without Python's file name, line number and source line.
    """

    def show(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        text = " ".join(str(message).split())
        print(f"{prefix} warning: {text}", file=sys.stderr)

    return show


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that flushing it at exit raises nothing more."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout without a file descriptor (a test's capture)
        pass
