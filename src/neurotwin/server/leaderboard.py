"""Leaderboards: one per track and phase, built from the current scores.

Live phase: each team's best scored submission. Final phase: each team's chosen submission
(its latest scored one when it chose none), hidden until the organiser releases the
track's final scores. Entries without a finite score, disqualified submissions and
disqualified teams are never ranked.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from neurotwin.server.models import SUB_SCORED, Release, Score, Submission, Team


@dataclass
class Row:
    """One ranked entry.

    Attributes
    ----------
    rank
        1 for the best; equal scores share a rank.
    team
        The team's name.
    baseline
        Whether the team is an organiser's baseline.
    submission_id
        The ranked submission.
    value, ceiling
        The ranking metric and its ceiling (None when unknown).
    per_mouse, per_class
        The ranking metric per mouse and per out-of-domain class.
    metrics
        Every metric's value.
    entries
        How many scored submissions the team has on the track.
    created
        When the ranked submission was made.
    scorer, track_version
        What produced the score.
    """

    rank: int
    team: str
    baseline: bool
    submission_id: int
    value: float
    ceiling: float | None
    per_mouse: dict[str, float | None] = field(default_factory=dict)
    per_class: dict[str, float | None] = field(default_factory=dict)
    metrics: dict[str, float | None] = field(default_factory=dict)
    entries: int = 0
    created: datetime | None = None
    scorer: str = ""
    track_version: str = ""

    @property
    def fraction(self) -> float | None:
        """The score as a fraction of its ceiling, or None."""
        if self.ceiling is None or self.ceiling == 0:
            return None
        return self.value / self.ceiling


def is_released(session: Session, track: str) -> bool:
    """Whether the organiser released the track's final-phase scores."""
    return session.get(Release, track) is not None


def _value(score: Score) -> float:
    assert score.value is not None
    return score.value


def ranking(session: Session, track: str, phase: str, ranking_metric: str) -> list[Row]:
    """Return the ranked rows of a track and phase (ignores whether final is released).

    Parameters
    ----------
    session
        A database session.
    track
        The track identifier.
    phase
        ``"live"`` or ``"final"``.
    ranking_metric
        The metric whose per-mouse and per-class values are shown.

    Returns
    -------
    list of Row
        Best first.
    """
    rows = session.execute(
        select(Submission, Score, Team)
        .join(Score, Score.submission_id == Submission.id)
        .join(Team, Team.id == Submission.team_id)
        .where(
            Submission.track == track,
            Submission.status == SUB_SCORED,
            ~Submission.disqualified,
            ~Team.disqualified,
            Score.phase == phase,
            Score.current,
        )
        .order_by(Submission.created)
    ).all()
    by_team: dict[int, list[tuple[Submission, Score, Team]]] = {}
    for sub, score, team in rows:
        if score.value is None or not math.isfinite(score.value):
            continue
        by_team.setdefault(team.id, []).append((sub, score, team))
    picked = []
    for entries in by_team.values():
        if phase == "live":
            best = max(entries, key=lambda e: _value(e[1]))
        else:
            chosen = [e for e in entries if e[0].chosen]
            best = chosen[-1] if chosen else entries[-1]
        picked.append((best, len(entries)))
    picked.sort(key=lambda p: -_value(p[0][1]))
    out: list[Row] = []
    for i, ((sub, score, team), n) in enumerate(picked):
        assert score.value is not None
        rank = out[-1].rank if out and out[-1].value == score.value else i + 1
        metric = score.metrics.get("metrics", {}).get(ranking_metric, {})
        out.append(
            Row(
                rank=rank,
                team=team.name,
                baseline=team.is_baseline,
                submission_id=sub.id,
                value=score.value,
                ceiling=score.ceiling,
                per_mouse=dict(metric.get("per_mouse", {})),
                per_class=dict(metric.get("per_class", {})),
                metrics={k: v.get("value") for k, v in score.metrics.get("metrics", {}).items()},
                entries=n,
                created=sub.created,
                scorer=score.scorer,
                track_version=score.track_version,
            )
        )
    return out


def to_csv(rows: list[Row]) -> str:
    """Return the rows as CSV text (one column per metric, mouse and class)."""
    mice = sorted({m for r in rows for m in r.per_mouse})
    classes = sorted({c for r in rows for c in r.per_class})
    metrics = sorted({m for r in rows for m in r.metrics})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["rank", "team", "baseline", "submission", "score", "ceiling", "fraction"]
        + metrics
        + [f"mouse:{m}" for m in mice]
        + [f"class:{c}" for c in classes]
        + ["entries", "created", "scorer", "track_version"]
    )
    for r in rows:
        writer.writerow(
            [r.rank, r.team, r.baseline, r.submission_id, r.value, r.ceiling, r.fraction]
            + [r.metrics.get(m) for m in metrics]
            + [r.per_mouse.get(m) for m in mice]
            + [r.per_class.get(c) for c in classes]
            + [r.entries, r.created.isoformat() if r.created else "", r.scorer, r.track_version]
        )
    return out.getvalue()


def to_json(rows: list[Row]) -> list[dict[str, Any]]:
    """Return the rows as JSON-ready dictionaries."""
    return [
        {
            "rank": r.rank,
            "team": r.team,
            "baseline": r.baseline,
            "submission": r.submission_id,
            "score": r.value,
            "ceiling": r.ceiling,
            "fraction": r.fraction,
            "metrics": r.metrics,
            "per_mouse": r.per_mouse,
            "per_class": r.per_class,
            "entries": r.entries,
            "created": r.created.isoformat() if r.created else None,
            "scorer": r.scorer,
            "track_version": r.track_version,
        }
        for r in rows
    ]
