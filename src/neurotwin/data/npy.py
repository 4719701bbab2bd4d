"""Reading one ``.npy`` file from an untrusted recording, safely.

A recording comes from a stranger: its files may be truncated, garbled, far larger than
their shapes need, or pickles that run code when loaded. :func:`read_npy` therefore

- reads the header first and refuses a file whose declared shape does not match its size,
  or whose size exceeds what the caller says the file can need (before decoding anything);
- reads object arrays (the releases saved some ``meta/`` string arrays that way) with a
  restricted unpickler that admits only numpy arrays whose elements are strings, bytes or
  numbers, so a pickle that would call anything else is refused, never run.

Every failure is a :class:`~neurotwin.data.problems.RecordingError` naming the file.
"""

from __future__ import annotations

import pickle
import threading
from typing import Any, Protocol

import numpy as np

from neurotwin.data.problems import RecordingError
from neurotwin.problems import Problem

#: Serialises numpy's header parsing (see read_npy).
_HEADER_LOCK = threading.Lock()

#: Globals a pickled numpy object array of strings or numbers needs, and nothing else.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}
#: Element types an object array may hold.
_ELEMENT_TYPES = (str, bytes, int, float, np.str_, np.bytes_, np.integer, np.floating)


class Reader(Protocol):
    """A binary file open for reading (a real file, or a zip member)."""

    def read(self, n: int = -1, /) -> bytes: ...  # noqa: D102

    def readinto(self, buffer: Any, /) -> int: ...  # noqa: D102

    def readline(self, limit: int = -1, /) -> bytes: ...  # noqa: D102

    def tell(self) -> int: ...  # noqa: D102

    def close(self) -> None: ...  # noqa: D102

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc: object) -> Any: ...


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that builds numpy arrays and refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to load {module}.{name}")


def _refuse(where: str, message: str) -> RecordingError:
    return RecordingError(Problem(where, message))


def read_npy(
    handle: Reader,
    size: int,
    where: str,
    *,
    max_bytes: int,
    allow_strings: bool = False,
    path: str | None = None,
) -> np.ndarray:
    """Read one ``.npy`` array, checking it before decoding it.

    Parameters
    ----------
    handle
        The file, opened for binary reading at its start.
    size
        The file's size in bytes (on disk, or as the zip declares it uncompressed).
    where
        The file's location, for messages.
    max_bytes
        The most bytes this file can need; a larger file is refused before it is read.
    allow_strings
        Admit object arrays of strings, bytes or numbers (returned as plain arrays).
    path
        The file on disk: the array is then memory-mapped read-only instead of read.

    Returns
    -------
    numpy.ndarray
        The array.

    Raises
    ------
    RecordingError
        When the file is too large, truncated, garbled, of an unexpected kind, or a pickle
        holding anything but strings, bytes or numbers.
    """
    if size > max_bytes:
        raise _refuse(
            where,
            f"is {size:,} bytes, more than the {max_bytes:,} its place in the recording can "
            "need; refused before reading",
        )
    try:
        version = np.lib.format.read_magic(handle)
        # numpy parses the header with ast.literal_eval; CPython 3.11 can raise "AST
        # constructor recursion depth mismatch" when threads (the cache's readers) parse
        # at once, so headers are parsed one at a time (they are a few hundred bytes)
        with _HEADER_LOCK:
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
            else:
                raise ValueError(f"unknown .npy format version {version}")
    except Exception as exc:  # numpy raises ValueError, EOFError, SyntaxError...
        raise _refuse(where, f"is not a .npy array ({_short(exc)})") from exc
    payload = size - handle.tell()
    if dtype.hasobject:
        if not allow_strings:
            raise _refuse(where, f"holds Python objects (dtype {dtype}), expected numbers")
        return _read_object_array(handle, where)
    count = 1
    for dim in shape:
        count *= int(dim)
    expected = count * dtype.itemsize
    if expected != payload:
        raise _refuse(
            where,
            f"is truncated or padded: its header declares shape {tuple(shape)} {dtype} "
            f"({expected:,} bytes) but it holds {payload:,}",
        )
    try:
        if path is not None:
            with _HEADER_LOCK:  # np.load parses the header again (see above)
                arr = np.load(path, mmap_mode="r", allow_pickle=False)
        else:
            data = bytearray(payload)
            got = handle.readinto(data)
            if got != payload:
                raise ValueError(f"read {got:,} of {payload:,} bytes")
            arr = np.frombuffer(data, dtype=dtype, count=count).reshape(
                shape, order="F" if fortran else "C"
            )
    except Exception as exc:
        raise _refuse(where, f"cannot be read ({_short(exc)})") from exc
    if dtype.kind == "U" and arr.size and dtype.itemsize:
        codes = np.ravel(arr, order="K").view(np.dtype("u4").newbyteorder(dtype.byteorder))
        if int(codes.max()) > 0x10FFFF:
            raise _refuse(where, "holds text that is not valid unicode (garbled?)")
    return arr


def _read_object_array(handle: Reader, where: str) -> np.ndarray:
    """Unpickle an object array of strings or numbers and return it as a plain array."""
    try:
        arr = _ArrayUnpickler(handle).load()
    except Exception as exc:
        raise _refuse(
            where,
            f"is a pickle that is not a plain array of strings or numbers ({_short(exc)}); refused",
        ) from exc
    if not isinstance(arr, np.ndarray):
        raise _refuse(where, f"is a pickle of {type(arr).__name__}, expected an array; refused")
    if arr.dtype.hasobject:
        for item in arr.flat:
            if not isinstance(item, _ELEMENT_TYPES):
                raise _refuse(
                    where,
                    f"holds an element of type {type(item).__name__}, expected strings or "
                    "numbers; refused",
                )
        try:
            return np.asarray(arr.tolist())
        except Exception as exc:  # ragged nesting
            raise _refuse(where, f"cannot be turned into a plain array ({_short(exc)})") from exc
    return arr


def _short(exc: BaseException) -> str:
    """Return an exception's first line, quoted and cut short (it may quote the file)."""
    from neurotwin.errors import quote_untrusted

    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return quote_untrusted(text, 120)[1:-1]
