"""Uploads: started, streamed to disk in chunks (resumable), checked, then queued.

An upload declares its track, file name and size; chunks are appended at the offset the
server reports (a client that lost its connection asks for the offset and goes on from
there); the completed file is checked by :func:`neurotwin.server.scoring_adapter.check`
and only then becomes a submission with a scoring job, in one transaction with the daily
limit's count. Files live in ``uploads/{team}/{upload key}/`` inside the competition folder.

One request at a time writes to an upload: an exclusive, non-blocking lock on its partial
file (``flock`` on POSIX; ``msvcrt.locking`` on a ``.lock`` file beside it on Windows, which
the test suite does not run on); on a platform with neither, the application does not
start (:func:`require_lock` raises :class:`~neurotwin.server.errors.LockUnavailableError`).
Open uploads that receive nothing for ``abandoned_upload_hours`` are deleted by
:func:`cleanup_abandoned`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import secrets
import shutil
import sys
import time as clock
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from neurotwin.server import queue, scoring_adapter
from neurotwin.server.config import Competition
from neurotwin.server.db import utcnow
from neurotwin.server.errors import LockUnavailableError, RequestError
from neurotwin.server.models import SUB_FAILED, SUB_QUEUED, Submission, Team, Upload, User

#: Whether ``fcntl.flock`` exists here (POSIX); tests turn it off to see the error.
HAVE_FLOCK = importlib.util.find_spec("fcntl") is not None

_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$")
_SUFFIXES = (".zip", ".csv", ".parquet.brotli", ".parquet")


def day_start(now: datetime) -> datetime:
    """Return the midnight UTC that starts ``now``'s day (when daily limits reset)."""
    return datetime.combine(now.date(), time(0))


def used_today(session: Session, team_id: int, track: str, now: datetime) -> int:
    """Count a team's submissions on a track since midnight UTC, failed scorings excepted."""
    start = day_start(now)
    return int(
        session.scalar(
            select(func.count(Submission.id)).where(
                Submission.team_id == team_id,
                Submission.track == track,
                Submission.created >= start,
                Submission.created < start + timedelta(days=1),
                Submission.status != SUB_FAILED,
            )
        )
        or 0
    )


def _check_open(competition: Competition, user: User, track: str, now: datetime) -> None:
    if user.team_id is None:
        raise RequestError(403, "only members of a team can submit")
    competition_track = competition.tracks.get(track)
    if competition_track is None:
        raise RequestError(
            400, f"track {track!r} is not part of this competition: {', '.join(competition.tracks)}"
        )
    if competition.open_phase(now) is None:
        raise RequestError(403, "the competition is not open for submissions now")
    if (
        competition.settings.require_verified_email
        and not user.email_verified
        and not user.is_organiser
    ):
        raise RequestError(
            403,
            f"verify your e-mail address {user.email} first: open the link sent to it "
            "(POST /api/v1/verify/resend sends a new one)",
        )


def _check_limit(session: Session, competition: Competition, team_id: int, track: str) -> None:
    now = utcnow()
    limit = competition.track(track).submissions_per_day
    if used_today(session, team_id, track, now) >= limit:
        reset = day_start(now) + timedelta(days=1)
        raise RequestError(
            429,
            f"your team made its {limit} submission(s) of today on {track}; "
            f"the count resets at {reset:%Y-%m-%d %H:%M} UTC",
        )


def upload_dir(competition: Competition, upload: Upload) -> Path:
    """Return the folder that holds an upload's file."""
    return competition.uploads_dir / str(upload.team_id) / upload.key


def start_upload(
    session: Session, competition: Competition, user: User, track: str, filename: str, size: int
) -> Upload:
    """Register a new upload (inside the caller's transaction).

    Raises
    ------
    RequestError
        400 for an unknown track or unsafe file name, 403 outside the phases, 413 when
        ``size`` exceeds the track's maximum, 429 past the daily limit.
    """
    _check_open(competition, user, track, utcnow())
    assert user.team_id is not None
    if not _FILENAME.match(filename) or ".." in filename or not filename.endswith(_SUFFIXES):
        raise RequestError(
            400,
            f"file name {filename!r}: use letters, digits, '.', '+', '-' or '_' and end in "
            f"{', '.join(_SUFFIXES)}",
        )
    limit = competition.track(track).max_upload_bytes
    if size <= 0:
        raise RequestError(400, "an upload needs a positive size in bytes")
    if size > limit:
        raise RequestError(
            413, f"{filename} has {size} bytes; track {track} takes uploads up to {limit} bytes"
        )
    _check_limit(session, competition, user.team_id, track)
    upload = Upload(
        key=secrets.token_hex(16),
        team_id=user.team_id,
        user_id=user.id,
        track=track,
        filename=filename,
        size=size,
        received=0,
        state="open",
        created=utcnow(),
    )
    session.add(upload)
    session.flush()
    folder = upload_dir(competition, upload)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{filename}.part").touch()
    return upload


def find_upload(session: Session, user: User, key: str) -> Upload:
    """Return the caller's own upload by key; 404 for another team's or an unknown key."""
    upload = session.scalar(select(Upload).where(Upload.key == key))
    if upload is None or upload.team_id != user.team_id:
        raise RequestError(404, f"no upload {key}")
    return upload


def part_path(competition: Competition, upload: Upload) -> Path:
    """Return the partial file an open upload is written to."""
    return upload_dir(competition, upload) / f"{upload.filename}.part"


def write_chunks(
    competition: Competition, upload: Upload, offset: int, chunks: Iterable[bytes]
) -> int:
    """Append chunks at ``offset`` of an open upload's partial file; return the new size.

    Raises
    ------
    RequestError
        409 when the upload is not open or ``offset`` is not where the file ends (the
        message says the offset to resume from), 413 when the chunks pass the declared size.
    """
    if upload.state != "open":
        raise RequestError(409, f"upload {upload.key} is {upload.state}")
    path = part_path(competition, upload)
    if not path.exists():
        raise RequestError(409, f"upload {upload.key} is no longer open")
    # one writer per upload: a second concurrent request is refused, not interleaved
    with open(path, "r+b") as f, exclusive(f, path, upload.key):
        current = os.fstat(f.fileno()).st_size
        if offset != current:
            raise RequestError(
                409, f"upload {upload.key} holds {current} bytes; resume at {current}"
            )
        written = current
        f.seek(current)
        for chunk in chunks:
            written += len(chunk)
            if written > upload.size:
                f.truncate(current)
                raise RequestError(
                    413, f"upload {upload.key} sends more than the {upload.size} bytes declared"
                )
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())
    return written


def require_lock() -> None:
    """Fail at once (when the application starts) where no file lock is available.

    Raises
    ------
    LockUnavailableError
        On a platform with neither ``fcntl.flock`` nor ``msvcrt.locking``.
    """
    if sys.platform != "win32" and not HAVE_FLOCK:
        raise LockUnavailableError(
            f"this platform ({sys.platform}) has neither fcntl.flock nor msvcrt.locking, "
            "which the server needs to keep concurrent writes to one upload apart"
        )


@contextmanager
def exclusive(f: BinaryIO, path: Path, key: str) -> Iterator[None]:
    """Hold an exclusive, non-blocking lock for writing an upload's partial file.

    Raises
    ------
    RequestError
        409 when another request holds it.
    LockUnavailableError
        On a platform with neither ``fcntl.flock`` nor ``msvcrt.locking``.
    """
    busy = RequestError(409, f"upload {key} is being written by another request")
    if sys.platform == "win32":
        import msvcrt

        with open(path.with_name(path.name + ".lock"), "a+b") as lock:
            try:
                msvcrt.locking(lock.fileno(), msvcrt.LK_NBLCK, 1)
            except OSError as exc:
                raise busy from exc
            try:
                yield
            finally:
                lock.seek(0)
                msvcrt.locking(lock.fileno(), msvcrt.LK_UNLCK, 1)
        return
    require_lock()
    import fcntl

    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        raise busy from exc
    yield  # released when the file is closed


def cleanup_abandoned(session: Session, competition: Competition, now: datetime) -> int:
    """Delete open uploads that received no byte for ``abandoned_upload_hours`` (caller commits).

    An upload's last activity is its partial file's modification time (every chunk
    touches it). Leftovers of web-form uploads in ``uploads/incoming`` older than the same
    age are deleted too.

    Returns
    -------
    int
        The number of uploads marked ``abandoned`` and deleted.
    """
    age = timedelta(hours=competition.settings.abandoned_upload_hours)
    cutoff = now - age
    count = 0
    for upload in session.scalars(select(Upload).where(Upload.state == "open")):
        part = part_path(competition, upload)
        last = (
            datetime.fromtimestamp(part.stat().st_mtime, timezone.utc).replace(tzinfo=None)
            if part.exists()
            else upload.created
        )
        if last >= cutoff:
            continue
        upload.state = "abandoned"
        shutil.rmtree(upload_dir(competition, upload), ignore_errors=True)
        count += 1
    incoming = competition.uploads_dir / "incoming"
    if incoming.is_dir():
        limit_s = clock.time() - age.total_seconds()
        for leftover in incoming.iterdir():
            if leftover.stat().st_mtime < limit_s:
                leftover.unlink(missing_ok=True)
    return count


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def complete_upload(
    session: Session, competition: Competition, user: User, upload: Upload, description: str = ""
) -> Submission:
    """Check a fully received upload and queue it as a submission (caller commits).

    The file is checked first (outside any lock); the daily count and the insertion of the
    submission and its job then happen with the team's row locked, so concurrent
    completions cannot pass the limit.

    Raises
    ------
    RequestError
        409 when bytes are missing, 422 with every problem the scorer found (the upload is
        then rejected and its file deleted), 429 past the daily limit.
    """
    if upload.state != "open":
        raise RequestError(409, f"upload {upload.key} is {upload.state}")
    part = part_path(competition, upload)
    received = part.stat().st_size
    if received != upload.size:
        raise RequestError(
            409,
            f"upload {upload.key} holds {received} of {upload.size} bytes; resume at {received}",
        )
    _check_limit(session, competition, upload.team_id, upload.track)
    final = upload_dir(competition, upload) / upload.filename
    os.replace(part, final)
    track = competition.track(upload.track)
    try:
        if received > competition.settings.check_in_process_mb * 2**20:
            scoring_adapter.check_isolated(upload.track, final, track.truth)
        else:
            scoring_adapter.check(upload.track, final, track.truth)
    except Exception as exc:
        upload.state = "rejected"
        shutil.rmtree(final.parent, ignore_errors=True)
        message = str(exc).replace(str(final.parent) + os.sep, "")
        raise RequestError(422, message) from exc
    team = session.scalar(select(Team).where(Team.id == upload.team_id).with_for_update())
    assert team is not None
    try:
        _check_limit(session, competition, team.id, upload.track)
    except RequestError:
        os.replace(final, part)  # the upload stays resumable for tomorrow
        raise
    upload.state = "complete"
    upload.received = received
    submission = Submission(
        team_id=upload.team_id,
        user_id=user.id,
        track=upload.track,
        filename=upload.filename,
        path=str(final),
        size=received,
        sha256=_sha256(final),
        description=description[:500],
        status=SUB_QUEUED,
        created=utcnow(),
    )
    session.add(submission)
    session.flush()
    queue.enqueue(session, submission.id)
    return submission
