"""Uploads: started, streamed to disk in chunks (resumable), checked, then queued.

An upload declares its track, file name and size; chunks are appended at the offset the
server reports (a client that lost its connection asks for the offset and goes on from
there); the completed file is checked by :func:`neurotwin.server.scoring_adapter.check`
and only then becomes a submission with a scoring job, in one transaction with the daily
limit's count. Files live in ``uploads/{team}/{upload key}/`` inside the competition folder.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import secrets
import shutil
from collections.abc import Iterable
from datetime import datetime, time, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from neurotwin.server import queue, scoring_adapter
from neurotwin.server.config import Competition
from neurotwin.server.db import utcnow
from neurotwin.server.errors import RequestError
from neurotwin.server.models import SUB_FAILED, SUB_QUEUED, Submission, Team, Upload, User

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
    with open(path, "r+b") as f:
        try:  # one writer per upload: a second concurrent request is refused, not interleaved
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise RequestError(
                409, f"upload {upload.key} is being written by another request"
            ) from exc
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
