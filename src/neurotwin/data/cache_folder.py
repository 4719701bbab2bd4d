"""The cache folder on disk: where it lives, its object, ``meta.json``, sizes, leftovers.

:mod:`neurotwin.data.cache` builds and verifies caches with these; this module needs no
scikit-image.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neurotwin import atomic
from neurotwin.errors import NeurotwinError

if TYPE_CHECKING:
    from neurotwin.data.recording import Recording

#: Bump when the cache layout changes; older caches are then rebuilt.
CACHE_FORMAT = 1
#: A build folder of another host older than this (seconds) is taken as left over.
LEFTOVER_AGE = 2 * 24 * 3600
_LEFTOVER = re.compile(r"^\..+\.(?:tmp|stale)-(.+)-(\d+)-\d+$")
#: Image preprocessings a cache can hold (see the module's notes).
PREPROCESSINGS = ("neurotwin", "kit")
#: The content checksum recorded for every cache file (SHA-256 is hardware-accelerated on
#: common CPUs; ``benchmarks/cache_verify.py`` measures it).
CHECKSUM = "sha256"
#: Bytes read at a time when a file is hashed.
HASH_CHUNK = 16 * 1024**2


def default_cache_dir() -> Path:
    """Return where caches live by default.

    Returns
    -------
    pathlib.Path
        ``$NEUROTWIN_CACHE_DIR``, else ``$XDG_CACHE_HOME/neurotwin``, else
        ``~/.cache/neurotwin``.
    """
    if os.environ.get("NEUROTWIN_CACHE_DIR"):
        return Path(os.environ["NEUROTWIN_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "neurotwin"


@dataclass
class RecordingCache:
    """A built cache: its folder and what ``meta.json`` says about it.

    Arrays are opened as read-only memory maps on first access in each process, so a
    cache object can be sent to ``DataLoader`` workers cheaply.

    Attributes
    ----------
    path
        The cache folder.
    meta
        The parsed ``meta.json``: kind, name, key, fields, shapes, withheld tiers, ...
    """

    path: Path
    meta: dict[str, Any]

    def __post_init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "meta": self.meta}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path, self.meta = state["path"], state["meta"]
        self._arrays = {}

    def array(self, name: str) -> np.ndarray:
        """Return one stacked field (or ``lengths``) as a read-only memory map.

        Raises
        ------
        CacheError
            When the file is missing or damaged (with how to rebuild the cache).
        """
        if name not in self._arrays:
            try:
                self._arrays[name] = np.load(self.path / f"{name}.npy", mmap_mode="r")
            except (OSError, ValueError, EOFError) as exc:
                raise CacheError(self.path, f"{name}.npy cannot be read ({exc})") from exc
        return self._arrays[name]

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields stored, stimulus first."""
        return tuple(self.meta["fields"])

    @property
    def lengths(self) -> np.ndarray:
        """True number of frames of each trial (1 for static recordings)."""
        return np.asarray(self.array("lengths"))

    @property
    def withheld_tiers(self) -> tuple[str, ...]:
        """Tiers whose responses are all zero (held out in a competition release)."""
        return tuple(self.meta["withheld_tiers"])

    @property
    def preprocessing(self) -> str:
        """How the stimulus was resized: ``"neurotwin"`` or ``"kit"``."""
        return str(self.meta.get("preprocessing", "neurotwin"))

    def verify_command(self) -> str | None:
        """Return the ``neurotwin cache`` command that verifies and rebuilds this cache.

        Returns
        -------
        str or None
            The command line (recording, ``--scale``, ``--cache-dir``), or None when no
            ``--scale`` gives this cache's size (a kit cache, or a size set by hand).
        """
        source_h, source_w = (int(v) for v in self.meta["source_hw"])
        h, w = (int(v) for v in self.meta["stimulus_hw"])
        scale = h / source_h
        if self.preprocessing != "neurotwin" or not 0 < scale <= 1:
            return None
        if (max(1, round(source_h * scale)), max(1, round(source_w * scale))) != (h, w):
            return None
        return (
            f"neurotwin cache {shlex.quote(str(self.meta['source']))} --scale {scale:.17g} "
            f"--cache-dir {shlex.quote(str(self.path.parent))}"
        )


class CacheError(NeurotwinError):
    """A built cache is damaged; the message says how to rebuild it.

    Parameters
    ----------
    path
        The cache folder.
    what
        What is wrong.
    """

    def __init__(self, path: Path, what: str) -> None:
        super().__init__(
            f"{path}: the cache is damaged: {what}; run `neurotwin cache RECORDING` to "
            "verify and rebuild it (or delete this folder)"
        )


def file_record(path: Path, digest: str) -> dict[str, Any]:
    """Return what ``meta.json`` records of one cache file."""
    stat = path.stat()
    return {CHECKSUM: digest, "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def write_meta(path: Path, meta: dict[str, Any]) -> None:
    """Rewrite a cache's ``meta.json`` atomically; a read-only cache keeps its old one."""
    try:
        atomic.write_text(path / "meta.json", json.dumps(meta, indent=1))
    except OSError:
        pass


def remove_leftovers(root: Path) -> list[Path]:
    """Delete the temporary folders of cache builds that were killed.

    A build works in ``.{name}.tmp-{host}-{pid}-{n}`` (and replaces a stale cache through
    ``.{name}.stale-...``); a folder of this host whose process is gone, or of another host
    and older than :data:`LEFTOVER_AGE` seconds, is left over from an interrupted build.

    Parameters
    ----------
    root
        The cache folder.

    Returns
    -------
    list of pathlib.Path
        The folders deleted.
    """
    removed = []
    for entry in root.glob(".*.*-*-*-*"):
        match = _LEFTOVER.match(entry.name)
        if match is None or not entry.is_dir():
            continue
        host, pid = match.group(1), int(match.group(2))
        try:
            age = time.time() - entry.stat().st_mtime
        except OSError:
            continue
        if (host == atomic.HOST and not _alive(pid)) or (
            host != atomic.HOST and age > LEFTOVER_AGE
        ):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    """Whether a process of this host is running."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but belongs to someone else
        return True
    return True


def cache_bytes(recording: Recording, stimulus_hw: tuple[int, int]) -> int:
    """Return the bytes the cache of a recording at a stimulus size will take on disk.

    Parameters
    ----------
    recording
        An open recording.
    stimulus_hw
        The stimulus size of the cache.

    Returns
    -------
    int
        The size of every stacked field (float32) and the trial lengths.
    """
    shapes = stacked_shapes(recording, (int(stimulus_hw[0]), int(stimulus_hw[1])))
    return sum(int(np.prod(s)) * 4 for s in shapes.values()) + recording.n_trials * 8


def read_meta(path: Path) -> dict[str, Any] | None:
    """Return a cache's parsed ``meta.json``, or None when missing, unreadable or old."""
    try:
        meta = json.loads((path / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    if meta.get("format") != CACHE_FORMAT:
        return None
    return meta if isinstance(meta, dict) else None


def stacked_shapes(recording: Recording, hw: tuple[int, int]) -> dict[str, tuple[int, ...]]:
    """Return the shape of every stacked field of a cache (video: time-major)."""
    n, t = recording.n_trials, recording.n_frames
    static = not recording.layout.has_frames
    shapes: dict[str, tuple[int, ...]] = {}
    for field in recording.fields:
        per_trial = recording.trial_shape(field)
        if field == recording.layout.stimulus:
            shapes[field] = (n, 1, *hw) if static else (n, t, *hw)
        elif static:
            shapes[field] = (n, *per_trial)
        else:
            shapes[field] = (n, t, per_trial[0])  # time first: (channels, T) -> (T, channels)
    return shapes


class HashingWriter:
    """A binary file that hashes what is written to it (header and data alike)."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.digest = hashlib.new(CHECKSUM)

    def write(self, data: bytes) -> int:
        """Write and hash ``data``; return the bytes written."""
        self.digest.update(data)
        return int(self.handle.write(data))

    def hexdigest(self) -> str:
        """Return the hex digest of everything written."""
        return self.digest.hexdigest()
