"""``neurotwin serve`` commands and the checks of ``competition.json``."""

from __future__ import annotations

import csv
import io
import json

import pytest

from neurotwin.cli import main
from neurotwin.server.config import load_competition
from neurotwin.server.errors import CompetitionError
from neurotwin.server.worker import run_worker
from server_helpers import STATIC, register, upload


def test_serve_commands_run_a_competition(
    tmp_path, truths, examples, database_url, capsys, monkeypatch
):
    folder = tmp_path / "comp"
    assert (
        main(
            [
                "serve",
                "init",
                str(folder),
                "--track",
                f"{STATIC}={truths[STATIC]}",
                "--database",
                database_url,
                "--submissions-per-day",
                "3",
            ]
        )
        == 0
    )
    config = json.loads((folder / "competition.json").read_text())
    assert config["tracks"][STATIC]["submissions_per_day"] == 3
    assert (folder / "truth" / truths[STATIC].name).is_file()
    competition = load_competition(folder)
    assert competition.database_url == database_url
    # an existing competition is not overwritten
    assert main(["serve", "init", str(folder), "--track", f"{STATIC}={truths[STATIC]}"]) == 2
    assert "already holds a competition" in capsys.readouterr().err

    from fastapi.testclient import TestClient

    from neurotwin.server.app import create_app

    with TestClient(create_app(competition)) as client:
        team = register(client, "a@lab.org", "alpha")
        sub = upload(client, team, STATIC, examples[f"{STATIC}-good"]).json()["id"]
    assert main(["serve", "worker", str(folder), "--once"]) == 0
    assert "scored 1 job(s)" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    assert main(["serve", "add-organiser", str(folder), "org@lab.org"]) == 0
    assert "API token (shown once): nt_" in capsys.readouterr().out
    assert main(["serve", "rescore", str(folder)]) == 0
    assert "queued 1 rescore job(s)" in capsys.readouterr().out
    assert run_worker(competition, once=True) == 1
    assert main(["serve", "release", str(folder), "--track", STATIC]) == 0
    assert main(["serve", "baseline", str(folder), "--team", "alpha"]) == 0
    with TestClient(create_app(competition)) as client:
        (row,) = client.get(f"/api/v1/leaderboard/{STATIC}/final").json()["rows"]
        assert row["baseline"] and row["team"] == "alpha"
    assert main(["serve", "disqualify", str(folder), "--submission", str(sub)]) == 0
    out = tmp_path / "all.csv"
    assert main(["serve", "export", str(folder), "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [(r["phase"], r["disqualified"]) for r in rows] == [("final", "True"), ("live", "True")]
    assert all(r["truth_sha256"] and r["scorer"] for r in rows)
    assert main(["serve", "disqualify", str(folder), "--submission", "999"]) == 2
    assert "no submission 999" in capsys.readouterr().err


def _config(tmp_path, truths, **changes):
    truth = tmp_path / "t.npz"
    truth.write_bytes(truths[STATIC].read_bytes())
    data = {
        "phases": {
            "live": {"start": "2026-01-01T00:00:00Z", "end": "2026-02-01T00:00:00Z"},
            "final": {"start": "2026-02-01T00:00:00Z", "end": "2026-03-01T00:00:00Z"},
        },
        "tracks": {STATIC: {"truth": "t.npz"}},
    }
    data.update(changes)
    (tmp_path / "competition.json").write_text(json.dumps(data))
    return tmp_path


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tracks": {"nope": {"truth": "t.npz"}}}, "unknown track 'nope'"),
        ({"tracks": {STATIC: {"truth": "missing.npz"}}}, "missing.npz does not exist"),
        ({"tracks": {STATIC: {"truth": "t.npz", "submissions_per_day": 0}}}, "submissions_per_day"),
        (
            {
                "phases": {
                    "live": {"start": "2026-02-01", "end": "2026-01-01"},
                    "final": {"start": "2026-02-01", "end": "2026-03-01"},
                }
            },
            "end is not after start",
        ),
        ({"phases": {"live": {"start": "soon", "end": "later"}}}, "'phases' must hold"),
        ({"tracks": {}}, "at least one track"),
    ],
)
def test_bad_config_names_the_file_and_field(tmp_path, truths, changes, message):
    folder = _config(tmp_path, truths, **changes)
    with pytest.raises(CompetitionError, match=message) as err:
        load_competition(folder)
    assert "competition.json" in str(err.value)


def test_config_defaults_to_sqlite_in_the_folder(tmp_path, truths, monkeypatch):
    monkeypatch.delenv("NEUROTWIN_DATABASE_URL", raising=False)
    folder = _config(tmp_path, truths)
    competition = load_competition(folder)
    assert competition.database_url == f"sqlite:///{folder.resolve() / 'competition.sqlite'}"
    assert competition.tracks[STATIC].submissions_per_day == 5
    assert competition.open_phase(competition.phases["final"].start) == "final"
    assert load_competition(folder, "sqlite:///x").database_url == "sqlite:///x"


def test_secrets_are_stored_hashed(client, competition):
    from sqlalchemy import select

    from neurotwin.server.db import make_engine, session_factory
    from neurotwin.server.models import Team, Token, User

    r = client.post(
        "/api/v1/register",
        json={"email": "a@lab.org", "password": "correct horse", "team": "alpha"},
    ).json()
    with session_factory(make_engine(competition.database_url))() as s:
        user, token, team = s.scalar(select(User)), s.scalar(select(Token)), s.scalar(select(Team))
        assert "correct horse" not in user.password_hash and user.password_hash.startswith(
            "scrypt$"
        )
        assert r["token"] not in token.digest and len(token.digest) == 64
        assert r["join_code"] not in team.join_code_hash
