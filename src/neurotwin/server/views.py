"""What the application shows of a submission (final-phase scores hidden until released)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from neurotwin.server.leaderboard import is_released
from neurotwin.server.models import Job, Score, Submission


def submission_json(session: Session, sub: Submission) -> dict[str, Any]:
    """Describe one submission to its own team (or an organiser).

    Final-phase scores are replaced by ``"hidden"`` until the track's final scores are
    released; a failed scoring carries its reason in ``error``.
    """
    released = is_released(session, sub.track)
    scores: dict[str, Any] = {}
    for s in session.scalars(
        select(Score).where(Score.submission_id == sub.id, Score.current).order_by(Score.phase)
    ):
        if s.phase == "final" and not released:
            scores[s.phase] = "hidden"
            continue
        scores[s.phase] = {
            "score": s.value,
            "ceiling": s.ceiling,
            "metrics": s.metrics,
            "scorer": s.scorer,
            "track_version": s.track_version,
        }
    pending = session.scalar(
        select(Job.kind).where(Job.submission_id == sub.id, Job.status.in_(["queued", "running"]))
    )
    return {
        "id": sub.id,
        "track": sub.track,
        "filename": sub.filename,
        "size": sub.size,
        "sha256": sub.sha256,
        "description": sub.description,
        "status": sub.status,
        "error": sub.error,
        "rescoring": pending == "rescore",
        "disqualified": sub.disqualified,
        "chosen": sub.chosen,
        "created": sub.created.isoformat(),
        "scores": scores,
    }
