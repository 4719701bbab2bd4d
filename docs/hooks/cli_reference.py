"""MkDocs hook: the command-line reference, generated from the real argparse parsers.

``docs/cli.md`` holds the marker :data:`MARKER`; :func:`on_page_markdown` replaces it with
the ``--help`` text of ``neurotwin`` and of every sub-command (nested ones such as
``simulate static`` included), taken from :func:`neurotwin.cli.build_parser`, so the page
cannot drift from the code. The help is formatted at a fixed width (:data:`COLUMNS`) with
colour off, so the output does not depend on the terminal that runs ``mkdocs build``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: The text in ``cli.md`` that the generated reference replaces.
MARKER = "<!-- cli-reference -->"
#: Width of the help text, in characters.
COLUMNS = 88
#: The page that must hold the marker.
PAGE = "cli.md"


@contextmanager
def _fixed_terminal(columns: int) -> Iterator[None]:
    """Make argparse format for ``columns`` characters, without colour, then restore."""
    names = ("COLUMNS", "LINES", "NO_COLOR", "PYTHON_COLORS", "FORCE_COLOR")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(COLUMNS=str(columns), LINES="50", NO_COLOR="1", PYTHON_COLORS="0")
    os.environ.pop("FORCE_COLOR", None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Return the sub-parsers of ``parser`` by name, in the order ``--help`` lists them."""
    out: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if sub not in out.values():  # aliases point at the same parser
                    out[name] = sub
    return out


def _walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for name, sub in _subcommands(parser).items():
        yield from _walk(sub, (*path, name))


def help_texts(columns: int = COLUMNS) -> list[tuple[str, str]]:
    """Return the ``--help`` text of ``neurotwin`` and of every sub-command.

    Parameters
    ----------
    columns
        Width the help is formatted for.

    Returns
    -------
    list of (str, str)
        ``(command, help text)`` pairs, e.g. ``("neurotwin simulate static", "usage: ...")``,
        the top-level command first, then every sub-command depth first in ``--help`` order.
    """
    from neurotwin.cli import build_parser

    with _fixed_terminal(columns):
        parser = build_parser()
        texts = []
        for path, sub in _walk(parser, ("neurotwin",)):
            if hasattr(sub, "color"):  # Python 3.14+: never emit ANSI colour codes
                sub.color = False
            texts.append((" ".join(path), sub.format_help().rstrip()))
    return texts


def render_reference(columns: int = COLUMNS) -> str:
    """Return the Markdown of the reference: one section per command with its help.

    Parameters
    ----------
    columns
        Width the help is formatted for.

    Returns
    -------
    str
        Markdown: a level-2 heading for ``neurotwin`` and each top-level sub-command, a
        level-3 heading for nested ones, each followed by the help in a code block.
    """
    parts = []
    for command, text in help_texts(columns):
        depth = command.count(" ")
        level = "##" if depth <= 1 else "###"
        parts.append(f"{level} `{command}`\n\n```text\n{text}\n```\n")
    return "\n".join(parts)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace the marker of ``cli.md`` with the generated reference (MkDocs hook).

    Parameters
    ----------
    markdown
        The page's Markdown.
    page
        The page being built.
    config
        The MkDocs config.
    files
        Every file of the site.

    Returns
    -------
    str
        The Markdown, with the reference in place of the marker.
    """
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        from mkdocs.exceptions import PluginError

        raise PluginError(f"{PAGE} lost its marker {MARKER!r}: nowhere to put the reference")
    return markdown.replace(MARKER, render_reference())
