"""Upload safety: bounded reads, zips checked before extraction, phases found by file name."""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tempfile
import weakref
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from neurotwin.scoring.errors import ProblemList, SubmissionError, quote
from neurotwin.scoring.tracks import PHASES, Track, get_track, list_tracks
from neurotwin.scoring.truth import Truth

#: An upload may hold at most this many bytes per value it must predict (plus a margin):
#: text needs about 20, parquet under 8; anything far beyond is refused before extraction.
MAX_BYTES_PER_VALUE = 64
MAX_BYTES_MARGIN = 16 << 20
#: Entries of a zip that are packaging debris and are ignored.
_DEBRIS = ("__MACOSX/", ".DS_Store")
_ARCHIVE_SUFFIXES = (".zip", ".tar", ".tgz", ".gz", ".bz2", ".xz", ".7z", ".rar", ".zst")


def _read_file(path: Path, max_bytes: int | None = None) -> bytes:
    """Read a submission file that is not a link, refusing one beyond ``max_bytes``."""
    if path.is_symlink():
        raise SubmissionError(ProblemList.single(str(path), "is a link; links are not followed"))
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise SubmissionError(
                ProblemList.single(
                    str(path),
                    f"holds {size} bytes, far beyond the {max_bytes} this phase can need; "
                    "refused before reading",
                )
            )
        return path.read_bytes()
    except OSError as exc:
        raise SubmissionError(
            ProblemList.single(str(path), f"cannot be read ({exc.strerror or exc})")
        ) from exc


#: Bytes copied at once while a zip member is checked or extracted.
COPY_CHUNK = 1 << 20


class _Window(io.RawIOBase):
    """A read-only, seekable view of ``size`` bytes of a file from ``offset``.

    A stored zip member is read in place through it, without a copy.
    """

    def __init__(self, path: Path, offset: int, size: int) -> None:
        self._file = open(path, "rb")
        self._offset, self._size, self._pos = offset, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size}[whence]
        self._pos = max(0, base + pos)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        n = max(0, min(len(view), self._size - self._pos))
        self._file.seek(self._offset + self._pos)
        got = self._file.readinto(view[:n])
        self._pos += got
        return got

    def close(self) -> None:
        self._file.close()
        super().close()


class _Extracted:
    """A temporary file holding a compressed zip member, deleted with this object."""

    def __init__(self) -> None:
        fd, name = tempfile.mkstemp(prefix="neurotwin-member-")
        os.close(fd)
        self.path = Path(name)
        self._cleanup = weakref.finalize(self, _unlink, name)


def _unlink(name: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name)


@dataclass(frozen=True)
class UploadFile:
    """One phase's file of an upload, read from disk when needed (never held whole).

    Attributes
    ----------
    name
        How messages name it (``upload.zip!member`` for a zip member).
    path
        The file holding its bytes: the upload itself, a file of an uploaded folder, the
        zip (a stored member, read in place) or a temporary copy of a compressed member.
    offset
        Where its bytes start in ``path``.
    size
        Its size in bytes.
    keep
        What must live as long as this object (the temporary copy).
    """

    name: str
    path: Path
    offset: int
    size: int
    keep: object = None

    def open(self) -> BinaryIO:
        """Return a seekable binary file of its bytes (close it after use)."""
        if self.offset == 0 and self.path.stat().st_size == self.size:
            return open(self.path, "rb")
        return io.BufferedReader(_Window(self.path, self.offset, self.size), COPY_CHUNK)

    def read_bytes(self) -> bytes:
        """Return its bytes (for the small 2022 files)."""
        with self.open() as f:
            return f.read()


def _blank(f: BinaryIO) -> bool:
    """Whether a file holds nothing but whitespace (read until its first other byte)."""
    for block in iter(lambda: f.read(COPY_CHUNK), b""):
        if block.strip():
            return False
    return True


def _member_file(
    path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo, problems: ProblemList
) -> UploadFile:
    """Check one zip member (CRC, size) by reading it through; copy it if it is compressed."""
    name = f"{path}!{info.filename}"
    extracted = _Extracted() if info.compress_type != zipfile.ZIP_STORED else None
    total = 0
    with zf.open(info) as member, contextlib.ExitStack() as stack:
        out = stack.enter_context(open(extracted.path, "wb")) if extracted else None
        for block in iter(lambda: member.read(COPY_CHUNK), b""):
            total += len(block)
            if total > info.file_size:
                problems.add(name, "is larger than its header says")
                break
            if out is not None:
                out.write(block)
    if extracted is not None:
        return UploadFile(name, extracted.path, 0, min(total, info.file_size), extracted)
    with open(path, "rb") as f:  # a stored member's bytes follow its local header
        f.seek(info.header_offset)
        header = f.read(30)
    start = info.header_offset + 30 + int.from_bytes(header[26:28], "little")
    start += int.from_bytes(header[28:30], "little")
    return UploadFile(name, path, start, info.file_size)


# ---------------------------------------------------------------------- opening uploads
def check_zip(
    path: str | os.PathLike[str],
    expected: Sequence[str],
    max_bytes: int,
    problems: ProblemList,
    required: Sequence[str] | None = None,
) -> list[zipfile.ZipInfo]:
    """Check a zip before extracting anything from it.

    Refused: absolute paths, ``..`` components, links, nested archives, entries other than
    ``expected`` (``__MACOSX/`` debris aside) or not at the root, and a total uncompressed
    size beyond ``max_bytes``, a name that appears twice, and a zip holding none of
    ``expected``. A zip holding one phase's file (the 2023 bonus upload) is fine.

    Parameters
    ----------
    path
        The zip.
    expected
        The file names it may hold at its root (at least one, each at most once).
    max_bytes
        The largest total uncompressed size accepted.
    problems
        Where problems are recorded.
    required
        The names a zip holding none of ``expected`` is told it misses (default
        ``expected``; other names in ``expected`` are accepted aliases).

    Returns
    -------
    list of zipfile.ZipInfo
        The entries of the expected files, in ``expected`` order (those present).
    """
    name = str(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        problems.add(name, f"is not a readable zip ({exc})")
        return []
    with zf:
        infos = zf.infolist()
    found: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        member = info.filename
        where = f"{name}!{member}" if member in expected else f"{name}!{quote(member, 80)}"
        if any(member.startswith(d) or f"/{d}" in member for d in _DEBRIS):
            continue
        parts = PurePosixPath(member.replace("\\", "/")).parts
        if member.startswith(("/", "\\")) or (len(member) > 1 and member[1] == ":"):
            problems.add(where, "absolute path in a zip")
            continue
        if ".." in parts:
            problems.add(where, "'..' in a zip path")
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            problems.add(where, "links are not allowed in a submission zip")
            continue
        if info.is_dir():
            continue
        total += info.file_size
        if member in found:
            problems.add(where, "appears twice in the zip; which copy is meant is unclear")
            continue
        if member.lower().endswith(_ARCHIVE_SUFFIXES):
            problems.add(where, "nested archives are not allowed")
        elif member not in expected:
            base = PurePosixPath(member).name
            hint = (
                f"; {base} must sit at the zip's root"
                if base in expected
                else f"; expected {list(expected)}"
            )
            problems.add(where, f"unexpected file{hint}")
        else:
            found[member] = info
    if total > max_bytes:
        problems.add(
            name,
            f"uncompressed size {total} bytes is far beyond the {max_bytes} bytes this track "
            "can need; refused before extraction",
        )
    if not found:  # one phase's file alone is a valid upload; none at all is not
        for e in expected if required is None else required:
            problems.add(name, f"{e} is missing")
    return [found[e] for e in expected if e in found]


def max_upload_bytes(truth: Truth, track: Track) -> int:
    """Return the largest upload a track's submission may reasonably need.

    Parameters
    ----------
    truth
        The ground truth (it fixes how many values the phases hold).
    track
        The track.

    Returns
    -------
    int
        ``64`` bytes per predicted value of both phases plus 16 MiB.
    """
    values = sum(truth.n_values(track.tier(p)) for p in PHASES)
    return MAX_BYTES_PER_VALUE * values + MAX_BYTES_MARGIN


def open_upload(
    path: str | os.PathLike[str], track: Track, max_bytes: int
) -> dict[str, tuple[str, bytes]]:
    """Find the files of each phase in an upload and read them (see :func:`open_upload_files`).

    Returns
    -------
    dict
        ``{phase: (name, bytes)}`` for each phase found.
    """
    files = open_upload_files(path, track, max_bytes)
    return {phase: (f.name, f.read_bytes()) for phase, f in files.items()}


def open_upload_files(
    path: str | os.PathLike[str], track: Track, max_bytes: int
) -> dict[str, UploadFile]:
    """Find the files of each phase in an upload: a file, a folder or a zip.

    Nothing is held in memory: a zip member is read through once (its CRC and size
    checked), then read in place when it is stored, or from a temporary copy when it is
    compressed.

    Parameters
    ----------
    path
        One submission file (its name tells its phase), a folder holding the track's files,
        or a zip holding one or both of them at its root.
    track
        The track.
    max_bytes
        The largest total size accepted.

    Returns
    -------
    dict
        ``{phase: UploadFile}`` for each phase found.

    Raises
    ------
    SubmissionError
        On a missing or empty file, a file of the wrong track or release, a link inside a
        folder, an unsafe zip, or more bytes than the track can need.
    """
    path = Path(path)
    problems = ProblemList()
    files = track.submission_files
    out: dict[str, UploadFile] = {}
    if not path.exists():
        what = "is a broken link" if path.is_symlink() else "does not exist"
        raise SubmissionError(ProblemList.single(str(path), what))
    if path.is_dir():
        total = 0
        for phase, fname in [(p, n) for p in files for n in track.file_names(p)]:
            f = path / fname
            if f.is_symlink():
                problems.add(str(f), "is a link; links inside an upload are not followed")
            elif f.is_file() and phase in out:
                problems.add(str(f), _twice(phase, out[phase].name))
            elif f.is_file():
                total += f.stat().st_size
                if total > max_bytes:
                    problems.add(
                        str(f),
                        f"brings the upload to {total} bytes, far beyond the {max_bytes} this "
                        "track can need; refused before reading",
                    )
                else:
                    out[phase] = _plain_file(f)
        if not out and not len(problems):
            problems.add(str(path), f"holds none of {list(files.values())}")
    elif not path.name.endswith((".csv", ".brotli", ".parquet")) and zipfile.is_zipfile(path):
        names = [n for p in files for n in track.file_names(p)]
        infos = check_zip(path, names, max_bytes, problems, required=list(files.values()))
        problems.raise_if_any()
        try:
            with zipfile.ZipFile(path) as zf:
                for info in infos:
                    member_phase = track.phase_of_file(info.filename)
                    assert member_phase is not None
                    if member_phase in out:
                        problems.add(
                            f"{path}!{info.filename}", _twice(member_phase, out[member_phase].name)
                        )
                        continue
                    out[member_phase] = _member_file(path, zf, info, problems)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            raise SubmissionError(
                ProblemList.single(str(path), f"a member cannot be extracted ({quote(exc, 120)})")
            ) from exc
    else:
        file_phase = track.phase_of_file(path.name)
        if file_phase is None:
            problems.add(str(path), _wrong_name(path.name, track))
        problems.raise_if_any()
        assert file_phase is not None
        out[file_phase] = _plain_file(path, max_bytes)
    for found in out.values():
        with found.open() as handle:
            if _blank(handle):
                problems.add(found.name, "is empty")
    problems.raise_if_any()
    return out


def _plain_file(path: Path, max_bytes: int | None = None) -> UploadFile:
    """Return a submission file on disk that is not a link, refused beyond ``max_bytes``."""
    if path.is_symlink():
        raise SubmissionError(ProblemList.single(str(path), "is a link; links are not followed"))
    try:
        size = path.stat().st_size
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise SubmissionError(
            ProblemList.single(str(path), f"cannot be read ({exc.strerror or exc})")
        ) from exc
    if max_bytes is not None and size > max_bytes:
        raise SubmissionError(
            ProblemList.single(
                str(path),
                f"holds {size} bytes, far beyond the {max_bytes} this phase can need; "
                "refused before reading",
            )
        )
    return UploadFile(str(path), path, 0, size)


def _twice(phase: str, first: str) -> str:
    return (
        f"holds the {phase} phase's predictions again (also in {first}); which file is meant "
        "is unclear"
    )


def _wrong_name(name: str, track: Track) -> str:
    owners = [t for t in list_tracks() if get_track(t).phase_of_file(name) is not None]
    expected = list(track.submission_files.values())
    kit = [n for phase in track.submission_files for n in track.kit_files.get(phase, ())]
    if kit:  # a user of the 2023 kit reads the names the kit writes
        expected = [*expected, *kit]
    if owners:
        other = [t for t in owners if get_track(t).format is not track.format]
        what = "release" if other else "track"
        return (
            f"is a file of the {' / '.join(owners)} {what}, not of track {track.identifier} "
            f"(expected {expected})"
        )
    return f"file name does not tell its phase; track {track.identifier} expects {expected}"
