"""Read-only access to the files of one recording, in a folder or inside a zip.

A :class:`Source` hides whether a recording was unpacked or is still the zip the
competition shipped: paths are always relative to the recording's root folder
(``data/images/0.npy``), and every error names the full location of the file.
"""

from __future__ import annotations

import errno
import hashlib
import os
import zipfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin.data.npy import Reader, read_npy
from neurotwin.data.problems import RecordingError
from neurotwin.errors import quote_untrusted
from neurotwin.problems import Problem

#: The most bytes a ``meta/`` file may hold (the largest release's are a few megabytes).
MAX_META_BYTES = 256 * 1024**2
#: The most bytes a data file may hold when the shape it must have is not known yet.
MAX_FILE_BYTES = 256 * 1024**2

#: Entries of a zip that are packaging debris, never part of a recording.
_IGNORED_PARTS = ("__MACOSX",)


def _ignored(name: str) -> bool:
    parts = name.split("/")
    return any(p in _IGNORED_PARTS or p.startswith("._") or p == ".DS_Store" for p in parts)


class Source(ABC):
    """Files of one recording, addressed by paths relative to its root folder."""

    #: The recording's folder name (``static26872-17-20-GrayImageNet-...``).
    name: str

    @abstractmethod
    def where(self, rel: str = "") -> str:
        """Return the full location of ``rel`` for messages (a path, or ``zip!member``)."""

    @abstractmethod
    def listdir(self, rel: str) -> list[str]:
        """Return the names directly inside folder ``rel`` (empty when it does not exist)."""

    @abstractmethod
    def is_dir(self, rel: str) -> bool:
        """Return whether ``rel`` is a folder."""

    @abstractmethod
    def is_file(self, rel: str) -> bool:
        """Return whether ``rel`` is a file."""

    @abstractmethod
    def _open(self, rel: str) -> tuple[Reader, int, str | None]:
        """Open a file: its handle, its (declared) size, and its path when on disk."""

    @abstractmethod
    def fingerprint(self) -> str:
        """Return a digest that changes whenever any file of the recording changes."""

    def refused_entries(self) -> dict[str, str]:
        """Return the entries never read: links out, broken links, loops, zip duplicates.

        Returns
        -------
        dict
            Why each one is refused, by path relative to the recording root.
        """
        return {}

    def load(self, rel: str, *, mmap: bool = False, max_bytes: int | None = None) -> np.ndarray:
        """Load one ``.npy`` file, checking its header and size before decoding it.

        Parameters
        ----------
        rel
            Path relative to the recording root.
        mmap
            Memory-map the file instead of reading it (folders only; zips are read).
        max_bytes
            The most bytes the file can need (from the shape it must have); a larger file
            is refused before it is read. Default: :data:`MAX_META_BYTES` for ``meta/``
            files, :data:`MAX_FILE_BYTES` for others.

        Returns
        -------
        numpy.ndarray
            The array. String arrays saved as Python objects (seen in some ``meta/`` files)
            come back as unicode arrays; no other pickled object is ever loaded.

        Raises
        ------
        RecordingError
            When the file is missing, a link out of the recording, too large for its place,
            truncated, corrupt, a pickle of anything but strings or numbers, or not a
            ``.npy`` array.
        """
        if not self.is_file(rel):
            raise RecordingError(Problem(self.where(rel), "file is missing"))
        meta = rel.startswith("meta/")
        if max_bytes is None:
            max_bytes = MAX_META_BYTES if meta else MAX_FILE_BYTES
        handle, size, path = self._open(rel)
        with handle:
            return read_npy(
                handle,
                size,
                self.where(rel),
                max_bytes=max_bytes,
                allow_strings=meta,
                path=path if mmap else None,
            )

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_zip", None)  # open handles do not cross into worker processes
        return state


class FolderSource(Source):
    """A recording unpacked into a folder.

    The folder's ``data/`` and ``meta/`` trees are listed once, with every file's size and
    modification time, when first needed; listings and the fingerprint come from that one
    scan (a recording has tens of thousands of files).

    Parameters
    ----------
    path
        The recording folder (the one holding ``data/`` and ``meta/``).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).resolve()
        self.name = self.path.name
        self._tree: dict[str, dict[str, tuple[int, int] | None]] | None = None
        self._bad: dict[str, str] = {}

    def _scan(self) -> dict[str, dict[str, tuple[int, int] | None]]:
        """Map each folder (relative path) to its entries: (size, mtime), or None for folders.

        Links are followed only while they stay inside the recording; a link out of it, a
        broken link or a link loop is listed as a file that :meth:`load` refuses.
        """
        if self._tree is None:
            tree: dict[str, dict[str, tuple[int, int] | None]] = {"": {}}
            pending = []
            for top in ("data", "meta"):
                refused = self._refused_link(top) if (self.path / top).is_symlink() else None
                if refused is not None:
                    self._bad[top] = refused
                elif (self.path / top).is_dir():
                    pending.append(top)
                    tree[""][top] = None
            while pending:
                rel = pending.pop()
                entries: dict[str, tuple[int, int] | None] = {}
                with os.scandir(self.path / rel) as it:
                    for entry in it:
                        if _ignored(entry.name):
                            continue
                        child = f"{rel}/{entry.name}"
                        refused = self._refused_link(child) if entry.is_symlink() else None
                        if refused is not None:
                            self._bad[child] = refused
                            entries[entry.name] = (0, 0)
                        elif entry.is_dir():
                            entries[entry.name] = None
                            pending.append(child)
                        else:
                            st = entry.stat()
                            entries[entry.name] = (st.st_size, st.st_mtime_ns)
                tree[rel] = entries
            self._tree = tree
        return self._tree

    def _refused_link(self, rel: str) -> str | None:
        """Why the link ``rel`` may not be followed, or None when it stays inside."""
        link = self.path / rel
        try:
            target = link.resolve(strict=True)
        except RuntimeError:  # Python < 3.13 reports a loop this way
            return "is a symbolic link loop"
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return "is a symbolic link loop"
            return "is a broken symbolic link"
        if not target.is_relative_to(self.path):
            return "is a symbolic link to outside the recording; refused"
        return None

    def _entry(self, rel: str) -> tuple[bool, tuple[int, int] | None]:
        parent, _, name = rel.rstrip("/").rpartition("/")
        entries = self._scan().get(parent)
        if entries is None or name not in entries:
            return False, None
        return True, entries[name]

    def where(self, rel: str = "") -> str:  # noqa: D102
        return str(self.path / rel) if rel else str(self.path)

    def listdir(self, rel: str) -> list[str]:  # noqa: D102
        return sorted(self._scan().get(rel.rstrip("/"), ()))

    def is_dir(self, rel: str) -> bool:  # noqa: D102
        found, stat = self._entry(rel)
        return found and stat is None

    def is_file(self, rel: str) -> bool:  # noqa: D102
        found, stat = self._entry(rel)
        return found and stat is not None

    def refused_entries(self) -> dict[str, str]:  # noqa: D102
        self._scan()
        return dict(self._bad)

    def _open(self, rel: str) -> tuple[Reader, int, str | None]:
        self._scan()
        if rel in self._bad:
            raise RecordingError(Problem(self.where(rel), self._bad[rel]))
        path = self.path / rel
        try:
            handle = open(path, "rb")
        except OSError as exc:
            raise RecordingError(
                Problem(self.where(rel), f"cannot be opened ({exc.strerror or exc})")
            ) from exc
        return handle, os.fstat(handle.fileno()).st_size, str(path)  # type: ignore[return-value]

    def fingerprint(self) -> str:  # noqa: D102
        digest = hashlib.sha1()
        tree = self._scan()
        for rel in sorted(tree):
            for name, stat in sorted(tree[rel].items()):
                if stat is not None:
                    digest.update(f"{rel}/{name}\0{stat[0]}\0{stat[1]}\n".encode())
        return digest.hexdigest()


class ZipSource(Source):
    """A recording still packed in the zip it was shipped in.

    The zip may hold the recording folder at its root or the folder's contents directly;
    ``__MACOSX/`` entries and ``._*`` resource forks are ignored.

    Parameters
    ----------
    path
        The ``.zip`` file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).resolve()
        self._zip: zipfile.ZipFile | None = None
        self._bad: dict[str, str] = {}
        try:
            with zipfile.ZipFile(self.path) as zf:
                infos = [i for i in zf.infolist() if not _ignored(i.filename)]
        except Exception as exc:  # BadZipFile, OSError, NotImplementedError (version), ...
            raise RecordingError(
                Problem(str(self.path), f"cannot be opened as a zip ({_first_line(exc)})")
            ) from exc
        self._prefix, self.name = _find_root(self.path, [i.filename for i in infos])
        self._files: dict[str, zipfile.ZipInfo] = {}
        self._dirs: dict[str, set[str]] = {}
        for info in infos:
            if not info.filename.startswith(self._prefix):
                continue
            rel = info.filename[len(self._prefix) :].rstrip("/")
            if not rel:
                continue
            parts = rel.split("/")
            for depth in range(len(parts)):
                parent = "/".join(parts[:depth])
                self._dirs.setdefault(parent, set()).add(parts[depth])
            if not info.is_dir():
                if rel in self._files:  # which copy would be read is arbitrary: neither
                    self._bad[rel] = "appears twice in the zip; refused"
                self._files[rel] = info

    def where(self, rel: str = "") -> str:  # noqa: D102
        member = (self._prefix + rel).rstrip("/")
        return f"{self.path}!{member}" if member else str(self.path)

    def listdir(self, rel: str) -> list[str]:  # noqa: D102
        return sorted(self._dirs.get(rel.rstrip("/"), ()))

    def is_dir(self, rel: str) -> bool:  # noqa: D102
        return rel.rstrip("/") in self._dirs

    def is_file(self, rel: str) -> bool:  # noqa: D102
        return rel in self._files

    def refused_entries(self) -> dict[str, str]:  # noqa: D102
        return dict(self._bad)

    def _open(self, rel: str) -> tuple[Reader, int, str | None]:
        if rel in self._bad:
            raise RecordingError(Problem(self.where(rel), self._bad[rel]))
        info = self._files[rel]
        try:
            if self._zip is None:
                self._zip = zipfile.ZipFile(self.path)
            handle = self._zip.open(info)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as exc:
            raise RecordingError(
                Problem(self.where(rel), f"cannot be read from the zip ({_first_line(exc)})")
            ) from exc
        return _ZipMember(handle, self.where(rel)), info.file_size, None

    def fingerprint(self) -> str:  # noqa: D102
        st = os.stat(self.path)
        digest = hashlib.sha1(f"{st.st_size}\0{st.st_mtime_ns}\n".encode())
        for rel in sorted(self._files):
            info = self._files[rel]
            digest.update(f"{rel}\0{info.file_size}\0{info.CRC}\n".encode())
        return digest.hexdigest()


class _ZipMember:
    """A zip member's reader whose corruption errors become one-line RecordingErrors."""

    def __init__(self, handle: Any, where: str) -> None:
        self._handle = handle
        self._where = where

    def _guard(self, call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except Exception as exc:  # BadZipFile (CRC), zlib.error, EOFError, lzma/bz2 errors
            raise RecordingError(
                Problem(self._where, f"is corrupt in the zip ({_first_line(exc)})")
            ) from exc

    def read(self, n: int = -1) -> bytes:
        return bytes(self._guard(self._handle.read, n))

    def readinto(self, buffer: Any) -> int:
        return int(self._guard(self._handle.readinto, buffer))

    def readline(self, limit: int = -1) -> bytes:
        return bytes(self._guard(self._handle.readline, limit))

    def tell(self) -> int:
        return int(self._handle.tell())

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> _ZipMember:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return quote_untrusted(text, 120)[1:-1]


def _find_root(path: Path, names: list[str]) -> tuple[str, str]:
    """Find the member prefix of the recording inside a zip and the recording's name."""
    tops = {n.split("/")[0] for n in names}
    if {"data", "meta"} <= tops:
        return "", path.stem
    candidates = sorted(
        t for t in tops if any(n.startswith(f"{t}/meta/") for n in names) and "/" not in t
    )
    if len(candidates) == 1:
        return candidates[0] + "/", candidates[0]
    if not candidates:
        shown = ", ".join(sorted(tops)[:5]) or "nothing"
        raise RecordingError(
            Problem(
                str(path),
                "is not a SENSORIUM recording: expected data/ and meta/ at its root or inside "
                f"one top-level folder, found {shown}",
            )
        )
    raise RecordingError(
        Problem(
            str(path),
            f"holds {len(candidates)} recordings ({', '.join(candidates)}); "
            "unpack it and open each folder",
        )
    )


def open_source(path: str | os.PathLike[str]) -> Source:
    """Open a recording folder or zip.

    Parameters
    ----------
    path
        A folder holding ``data/`` and ``meta/``, or a zip of such a folder.

    Returns
    -------
    Source
        The files of the recording.

    Raises
    ------
    RecordingError
        When the path does not exist or is neither a folder nor a zip.
    """
    p = Path(path)
    if p.is_dir():
        return FolderSource(p)
    if p.is_file():
        if not zipfile.is_zipfile(p):
            raise RecordingError(Problem(str(p), "is neither a recording folder nor a zip"))
        return ZipSource(p)
    raise RecordingError(Problem(str(p), "does not exist"))
