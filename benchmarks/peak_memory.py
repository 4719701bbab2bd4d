"""Peak anonymous memory of this process, sampled from ``/proc/self/status`` (Linux).

``ru_maxrss`` (peak resident set) also counts the pages of files mapped into the process:
a movie read through a memory map shows up in it whole once every frame has been read,
although the kernel can drop those pages at any time. The anonymous part (``RssAnon``: the
heap, arrays, torch's buffers) is what a run really needs; no kernel counter keeps its peak,
so :class:`AnonPeak` samples it from a background thread. Standard library only, so that
the localmd child (another virtual environment) can use it too.
"""

from __future__ import annotations

import threading
from types import TracebackType


def _rss_anon_kib() -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class AnonPeak:
    """Sample ``RssAnon`` every ``interval`` seconds while the ``with`` block runs."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self._peak_kib: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @property
    def peak_gib(self) -> float | None:
        """The largest sample in GiB, or None where ``/proc/self/status`` has no ``RssAnon``."""
        return None if self._peak_kib is None else self._peak_kib / 2**20

    def _record(self) -> None:
        kib = _rss_anon_kib()
        if kib is not None:
            self._peak_kib = max(kib, self._peak_kib or 0)

    def _sample(self) -> None:
        while True:
            self._record()
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> AnonPeak:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._record()  # the last moment too
