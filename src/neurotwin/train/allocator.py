"""Keep freed memory for reuse on the CPU: glibc's malloc without its unmap-on-free of big blocks.

glibc's ``malloc`` serves every block over 32 MiB (and, by default, over 128 KiB) with its own
``mmap`` and gives it back to the operating system on ``free``. A CPU training step allocates
and frees tensors of that size by the dozen (one activation of the kit's core at batch 128 is
51 MiB), so each one is mapped anew and its pages are faulted in and zeroed again: on 2 cores
the kit's core spent almost half its training step doing that (1.57 s a step against 0.88 s
with this setting; ``benchmarks/train_speed.py``). PyTorch's CPU tuning guide recommends an
allocator that keeps freed memory (jemalloc, tcmalloc) for this reason; this does the same
with glibc's own switches (``mallopt``): no block gets its own mapping (``M_MMAP_MAX = 0``)
and freed memory stays with the process (``M_TRIM_THRESHOLD``).

The cost: the process keeps its peak memory until it exits instead of returning freed blocks,
and the heap can fragment (a demo training peaked at 2.1 GiB against 1.8 GiB). The setting
is per process and cannot be undone here.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from typing import Any

# mallopt's parameter numbers (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
#: Free memory at the top of the heap that glibc may keep (bytes): the largest its int takes.
_KEEP_BYTES = 2**31 - 1

_LOCK = threading.Lock()
_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to reuse freed blocks of this process instead of unmapping them.

    Idempotent; the first call decides for the process.

    Returns
    -------
    bool
        True when glibc accepted both settings; False where there is no glibc (macOS,
        Windows, musl: nothing changed) or glibc refused one of them.
    """
    global _applied
    with _LOCK:
        if _applied is None:
            mallopt = _glibc_mallopt()
            _applied = (
                mallopt is not None
                and bool(mallopt(_M_MMAP_MAX, 0))
                and bool(mallopt(_M_TRIM_THRESHOLD, _KEEP_BYTES))
            )
        return _applied


def _glibc_mallopt() -> Any:
    """Return glibc's ``mallopt``, or None without glibc (musl's does nothing)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018 - glibc only
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt
