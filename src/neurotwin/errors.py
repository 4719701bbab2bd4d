"""Exceptions shared by every part of neurotwin, and safe quoting of untrusted text."""

from __future__ import annotations

#: Exit status of a command that ran and found problems (``validate``, ``score --check``...).
EXIT_PROBLEMS = 1
#: Exit status of a command refused for bad input (a :class:`NeurotwinError`).
EXIT_BAD_INPUT = 2
#: Exit status of a command that failed for an unexpected reason (a bug: please report it).
EXIT_INTERNAL = 3
#: Exit status after Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130


class NeurotwinError(Exception):
    """Base class of the errors neurotwin raises on bad input.

    The command line prints these as one clear message instead of a traceback.
    """


def printable(text: str) -> str:
    r"""Escape every character of ``text`` that could act on a terminal, keeping the rest.

    Parameters
    ----------
    text
        A message or a path that may hold names taken from an untrusted file or folder.

    Returns
    -------
    str
        The text with control characters, bidirectional overrides and unpaired surrogates
        shown as Python escapes (``\x1b``), on one line.
    """
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


def _escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def quote_untrusted(text: object, limit: int = 60) -> str:
    r"""Quote text from an untrusted file (a name, a value) for a message, safely and briefly.

    Every character that could act on a terminal (escape codes, other control characters,
    bidirectional overrides, unpaired surrogates) is shown as a Python escape, and the
    result is cut to about ``limit`` characters.

    Parameters
    ----------
    text
        The text (anything else is shown through :func:`str`; bytes through :func:`repr`).
    limit
        Characters shown before the rest is replaced by ``...``.

    Returns
    -------
    str
        A single-quoted, printable, single-line string such as ``'\\x1b[31mred'``.
    """
    if isinstance(text, bytes | bytearray):
        shown = repr(bytes(text[: limit * 4]))
        return shown if len(shown) <= limit + 3 else shown[:limit] + "..."
    value = str(text)
    cut = len(value) > limit
    value = value[:limit]
    out = []
    for ch in value:
        code = ord(ch)
        if ch == "'" or ch == "\\":
            out.append("\\" + ch)
        elif ch.isprintable() and not 0xD800 <= code <= 0xDFFF:
            out.append(ch)
        elif code < 0x100:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "'" + "".join(out) + ("..." if cut else "") + "'"
