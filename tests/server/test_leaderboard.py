"""Ranking rules: entries without a finite score are never ranked; zero and negative are."""

from __future__ import annotations

import math

from neurotwin.server import leaderboard
from neurotwin.server.db import make_engine, session_factory, utcnow
from neurotwin.server.models import Score, Submission, Team, User
from server_helpers import STATIC


def test_unscored_entries_are_never_ranked(competition):
    engine = make_engine(competition.database_url)
    values = [
        ("nan", math.nan),
        ("none", None),
        ("zero", 0.0),
        ("zero", -0.2),  # the team's best entry is its 0.0, not this one
        ("negative", -0.1),
        ("good", 0.3),
    ]
    teams: dict[str, tuple[int, int]] = {}
    with session_factory(engine).begin() as s:
        for i, (name, value) in enumerate(values):
            if name not in teams:
                team = Team(name=name, join_code_hash="x", created=utcnow())
                s.add(team)
                s.flush()
                user = User(
                    email=f"{i}@x.org", password_hash="x", team_id=team.id, created=utcnow()
                )
                s.add(user)
                s.flush()
                teams[name] = (team.id, user.id)
            team_id, user_id = teams[name]
            sub = Submission(
                team_id=team_id,
                user_id=user_id,
                track=STATIC,
                filename="s.zip",
                path="-",
                size=1,
                sha256="-",
                status="scored",
                created=utcnow(),
            )
            s.add(sub)
            s.flush()
            s.add(
                Score(
                    submission_id=sub.id,
                    phase="live",
                    value=value,
                    ceiling=0.5,
                    metrics={},
                    scorer="t",
                    track_version="1.0",
                    truth_sha256="-",
                    created=utcnow(),
                )
            )
    with session_factory(engine)() as s:
        rows = leaderboard.ranking(s, STATIC, "live", "single_trial_correlation")
    assert [(r.rank, r.team) for r in rows] == [(1, "good"), (2, "zero"), (3, "negative")]
    assert rows[1].fraction == 0.0 and rows[1].value == 0.0 and rows[1].entries == 2
    text = leaderboard.to_csv(rows)
    assert text.splitlines()[0].startswith("rank,team,baseline,submission,score,ceiling")
    assert "nan" not in text and "none" not in text
    engine.dispose()
