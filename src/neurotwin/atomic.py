"""Atomic writes: a file or folder appears complete under its name, or not at all.

Everything that matters (submissions, truth files, reports, checkpoints, caches, simulated
recordings) is written under a temporary name in the destination's folder and renamed into
place with :func:`os.replace`, which is atomic within one file system: an interruption
(Ctrl-C, a crash, a full disk) leaves the previous version or nothing, never half a file.

Durability policy, the same everywhere: a single file is flushed to disk (``fsync``) before
the rename, so a power cut after the rename cannot leave an empty file under the final name.
A folder of many files (a recording, a cache, a truth folder) is published by one rename
without flushing each file: it stays all-or-nothing for every process, and its readers
check what they read (the cache's checksums, the recording's structure checks).

Temporary names start with a dot and carry the host and process id
(:func:`temp_name`), so two processes never share one and a killed process's leftovers can
be recognised.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

#: This host's name as temporary names carry it (no ``-``, which separates the parts).
HOST = socket.gethostname().replace("-", "_") or "host"


def temp_name(path: Path, tag: str = "tmp") -> Path:
    """Return a unique temporary name beside ``path``: ``.{name}.{tag}-{host}-{pid}-{n}``.

    Parameters
    ----------
    path
        The final file or folder.
    tag
        What the temporary holds (``"tmp"`` for a build, ``"stale"`` for an old version
        moved aside).

    Returns
    -------
    pathlib.Path
        A path in the same folder that no other process uses.
    """
    return path.with_name(f".{path.name}.{tag}-{HOST}-{os.getpid()}-{time.monotonic_ns()}")


def current_umask() -> int:
    """Return the process's umask (the permission bits new files do not get).

    Returns
    -------
    int
        E.g. ``0o022``.
    """
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary file path beside ``path``; on success it replaces ``path``.

    The file gets the permissions of any new file (``0o666`` less the umask), not the
    owner-only ``0o600`` of :func:`tempfile.mkstemp`. When the block raises, the temporary
    file is removed and ``path`` is left as it was.

    Parameters
    ----------
    path
        The final file; its folder is created if needed.
    fsync
        Flush the file to disk before the rename (the policy: yes for single files).

    Yields
    ------
    pathlib.Path
        An existing, empty temporary file in the same folder, to write the content into.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """Write a file through :func:`atomic_path`: ``write(tmp)`` fills the temporary file.

    Parameters
    ----------
    path
        The final file.
    write
        Called with the temporary path; writes the whole content there.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding=encoding))


def publish(tmp: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """Move a finished temporary file or folder to ``path``, replacing what is there.

    An existing folder at ``path`` (or a file where a folder comes) is first renamed aside
    (:func:`temp_name` with tag ``"stale"``) and then deleted, so readers see the old
    version or the new one; a file is replaced by the rename itself. The folder's files are
    not flushed one by one (see the module's durability policy).

    Parameters
    ----------
    tmp
        The finished file or folder, in the same file system as ``path`` (normally made
        with :func:`temp_name`).
    path
        Its final name.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    OSError
        When the rename fails (another process published the same folder first, for one).
    """
    final = Path(path)
    folder = final.is_dir() and not final.is_symlink()
    if folder or (Path(tmp).is_dir() and (final.exists() or final.is_symlink())):
        stale = temp_name(final, "stale")
        os.replace(final, stale)
        if folder:
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
    os.replace(tmp, final)
    return final
