"""Organiser actions: rescore, disqualify, mark baselines, release final scores, export."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select
from sqlalchemy.orm import Session

from neurotwin.server import queue
from neurotwin.server.db import utcnow
from neurotwin.server.errors import RequestError
from neurotwin.server.models import (
    QUEUED,
    RUNNING,
    SUB_SCORED,
    Job,
    Release,
    Score,
    Submission,
    Team,
)


def rescore(session: Session, track: str | None = None) -> int:
    """Queue a rescore of every scored submission (of one track, or all), caller commits.

    The current scores stay visible until the worker has written the new ones; each new
    score records the scorer and track version that produced it. A submission with a
    rescore already waiting is not queued twice.

    Returns
    -------
    int
        The number of jobs queued.
    """
    query = select(Submission.id).where(Submission.status == SUB_SCORED)
    if track is not None:
        query = query.where(Submission.track == track)
    pending = set(
        session.scalars(
            select(Job.submission_id).where(
                Job.kind == "rescore", Job.status.in_([QUEUED, RUNNING])
            )
        )
    )
    count = 0
    for sub_id in session.scalars(query.order_by(Submission.id)):
        if sub_id not in pending:
            queue.enqueue(session, sub_id, kind="rescore")
            count += 1
    return count


def disqualify(
    session: Session,
    *,
    submission_id: int | None = None,
    team: str | None = None,
    undo: bool = False,
) -> str:
    """Disqualify (or re-admit) one submission or a whole team; return what changed."""
    if (submission_id is None) == (team is None):
        raise RequestError(400, "name one submission or one team")
    if submission_id is not None:
        sub = session.get(Submission, submission_id)
        if sub is None:
            raise RequestError(404, f"no submission {submission_id}")
        sub.disqualified = not undo
        return f"submission {submission_id} {'re-admitted' if undo else 'disqualified'}"
    row = session.scalar(select(Team).where(Team.name == team))
    if row is None:
        raise RequestError(404, f"no team {team!r}")
    row.disqualified = not undo
    return f"team {team} {'re-admitted' if undo else 'disqualified'}"


def mark_baseline(session: Session, team: str, undo: bool = False) -> None:
    """Mark a team's rows as a baseline on every leaderboard (or unmark them)."""
    row = session.scalar(select(Team).where(Team.name == team))
    if row is None:
        raise RequestError(404, f"no team {team!r}")
    row.is_baseline = not undo


def release(session: Session, track: str, undo: bool = False) -> None:
    """Release (or hide again) the final-phase scores of a track."""
    existing = session.get(Release, track)
    if undo and existing is not None:
        session.delete(existing)
    elif not undo and existing is None:
        session.add(Release(track=track, released=utcnow()))


def export_csv(session: Session) -> str:
    """Return every submission with its current scores as CSV (one row per phase score)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "submission",
            "team",
            "track",
            "filename",
            "sha256",
            "created",
            "status",
            "error",
            "disqualified",
            "chosen",
            "phase",
            "score",
            "ceiling",
            "scorer",
            "track_version",
            "truth_sha256",
        ]
    )
    rows = session.execute(
        select(Submission, Team).join(Team, Team.id == Submission.team_id).order_by(Submission.id)
    ).all()
    for sub, team in rows:
        scores = list(
            session.scalars(
                select(Score)
                .where(Score.submission_id == sub.id, Score.current)
                .order_by(Score.phase)
            )
        )
        base = [
            sub.id,
            team.name,
            sub.track,
            sub.filename,
            sub.sha256,
            sub.created.isoformat(),
            sub.status,
            sub.error or "",
            sub.disqualified or team.disqualified,
            sub.chosen,
        ]
        if not scores:
            writer.writerow([*base, "", "", "", "", "", ""])
        for s in scores:
            writer.writerow(
                [*base, s.phase, s.value, s.ceiling, s.scorer, s.track_version, s.truth_sha256]
            )
    return out.getvalue()
