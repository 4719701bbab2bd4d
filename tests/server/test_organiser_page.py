"""The organisers' page, abandoned uploads, ``serve init --simulate``, the upload lock."""

from __future__ import annotations

import csv
import io
import os
import shutil
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from neurotwin.cli import main
from neurotwin.server import uploads
from neurotwin.server.app import create_app
from neurotwin.server.config import load_competition
from neurotwin.server.db import make_engine, session_factory, utcnow
from neurotwin.server.errors import LockUnavailableError
from neurotwin.server.models import Upload, User
from neurotwin.server.worker import run_worker
from server_helpers import STATIC, csrf, register, upload, write_competition


@pytest.fixture
def site(tmp_path, truths):
    competition = write_competition(
        tmp_path / "comp", {STATIC: truths[STATIC]}, f"sqlite:///{tmp_path / 'db.sqlite'}"
    )
    app = create_app(competition)
    with TestClient(app) as c:
        yield competition, c
    app.state.engine.dispose()


def _log_in(client, email):
    r = client.post(
        "/login", data={"email": email, "password": "correct horse", "csrf": csrf(client)}
    )
    assert r.status_code == 200, r.text


def test_organiser_page_releases_rescores_disqualifies_and_exports(site, examples):
    competition, client = site
    alpha = register(client, "a@lab.org", "alpha")
    sub = upload(client, alpha, STATIC, examples[f"{STATIC}-good"]).json()["id"]
    run_worker(competition, once=True)
    register(client, "org@lab.org", "organisers")
    _log_in(client, "org@lab.org")
    assert client.get("/organiser").status_code == 403  # not yet an organiser
    sessions = session_factory(make_engine(competition.database_url))
    with sessions.begin() as s:
        s.query(User).filter(User.email == "org@lab.org").update({"is_organiser": True})
    page = client.get("/organiser")
    assert page.status_code == 200 and "release the final scores of" in page.text
    token = csrf(client, "/organiser")
    no_token = client.post("/organiser/release", data={"track": STATIC})
    assert no_token.status_code == 403 and "reload the page" in no_token.text
    r = client.post("/organiser/release", data={"track": STATIC, "csrf": token})
    assert r.status_code == 200 and f"hide the final scores of {STATIC}" in r.text
    final = client.get(f"/api/v1/leaderboard/{STATIC}/final").json()
    assert final["released"] and [row["team"] for row in final["rows"]] == ["alpha"]
    r = client.post("/organiser/rescore", data={"track": "", "csrf": token})
    assert "(rescoring)" in r.text
    assert run_worker(competition, once=True) == 1
    r = client.post("/organiser/disqualify", data={"submission": str(sub), "csrf": token})
    assert "(disqualified)" in r.text
    assert client.get(f"/api/v1/leaderboard/{STATIC}/live").json()["rows"] == []
    bad = client.post("/organiser/disqualify", data={"submission": "x1", "csrf": token})
    assert bad.status_code == 400
    rows = list(csv.DictReader(io.StringIO(client.get("/organiser/export.csv").text)))
    assert {r["submission"] for r in rows} == {str(sub)} and rows[0]["disqualified"] == "True"
    # a participant may not use the organiser's forms
    participant = TestClient(client.app)
    _log_in(participant, "a@lab.org")
    mine = csrf(participant, "/team")
    r = participant.post("/organiser/release", data={"track": STATIC, "csrf": mine})
    assert r.status_code == 403 and "only organisers" in r.text


def test_abandoned_uploads_are_cleaned_up(site, capsys):
    competition, client = site
    team = register(client, "c@lab.org", "cleaners")
    keys = []
    for _ in range(2):
        r = client.post(
            "/api/v1/uploads",
            json={"track": STATIC, "filename": "x.zip", "size": 100},
            headers=team,
        )
        keys.append(r.json()["key"])
        client.put(
            f"/api/v1/uploads/{keys[-1]}",
            content=b"x" * 10,
            headers={**team, "Upload-Offset": "0"},
        )
    stale, fresh = (uploads.upload_dir(competition, _upload(competition, k)) for k in keys)
    old = time.time() - 25 * 3600
    os.utime(stale / "x.zip.part", (old, old))
    incoming = competition.uploads_dir / "incoming"
    incoming.mkdir(parents=True)
    (incoming / "leftover").write_bytes(b"x")
    os.utime(incoming / "leftover", (old, old))
    assert main(["serve", "cleanup", str(competition.folder)]) == 0
    assert "deleted 1 upload(s) abandoned for more than 24 hours" in capsys.readouterr().out
    assert not stale.exists() and (fresh / "x.zip.part").is_file()
    assert not (incoming / "leftover").exists()
    assert _upload(competition, keys[0]).state == "abandoned"
    r = client.get(f"/api/v1/uploads/{keys[0]}", headers=team)
    assert r.json()["state"] == "abandoned"
    r = client.put(
        f"/api/v1/uploads/{keys[0]}", content=b"y", headers={**team, "Upload-Offset": "10"}
    )
    assert r.status_code == 409 and "abandoned" in r.json()["error"]
    # the worker cleans up too, while its queue is empty
    os.utime(fresh / "x.zip.part", (old, old))
    run_worker(competition, once=True)
    assert not fresh.exists()


def _upload(competition, key):
    with session_factory(make_engine(competition.database_url))() as s:
        return s.query(Upload).filter(Upload.key == key).one()


def test_without_a_file_lock_the_server_fails_clearly(site, monkeypatch):
    competition, client = site
    team = register(client, "l@lab.org", "lockers")
    key = client.post(
        "/api/v1/uploads", json={"track": STATIC, "filename": "x.zip", "size": 10}, headers=team
    ).json()["key"]
    monkeypatch.setattr(uploads, "HAVE_FLOCK", False)
    with pytest.raises(LockUnavailableError, match=r"neither fcntl\.flock nor msvcrt\.locking"):
        uploads.write_chunks(competition, _upload(competition, key), 0, [b"x"])
    with pytest.raises(LockUnavailableError, match="keep concurrent writes to one upload apart"):
        create_app(competition)  # refused at start, not at the first upload


def test_serve_init_simulate_builds_a_competition_that_serves(
    tmp_path, capsys, monkeypatch, simulated
):
    import neurotwin.simulate as simulate
    from neurotwin.simulate.recording import SimulatedRecording

    def copy_of(kind):
        """Stand in for the simulator: copies of the session's mice (simulated once)."""

        def fake(dest, **kwargs):
            assert kwargs["competition"] and kwargs["preset"] == "tiny"
            rec = simulated[kind]
            Path(dest).mkdir(parents=True, exist_ok=True)
            path, truth = Path(dest) / rec.path.name, Path(dest) / rec.truth.name
            shutil.copytree(rec.path, path)
            shutil.copytree(rec.truth, truth)
            return [SimulatedRecording(path, truth, rec.ceilings)]

        return fake

    monkeypatch.setattr(simulate, "simulate_static", copy_of("static"))
    monkeypatch.setattr(simulate, "simulate_video", copy_of("video"))
    folder = tmp_path / "demo"
    assert main(["serve", "init", str(folder), "--simulate"]) == 0
    assert "example submissions" in capsys.readouterr().out
    competition = load_competition(folder)
    assert {t.truth["live"].parent.name for t in competition.tracks.values()} == {"truth"}
    examples = sorted(p.name for p in (folder / "examples").iterdir())
    assert examples and all(any(p.startswith(t) for p in examples) for t in competition.tracks)
    app = create_app(competition)
    with TestClient(app) as client:
        tracks = client.get("/api/v1/competition").json()["tracks"]
        assert set(tracks) == set(competition.tracks) and len(tracks) >= 2
        kinds = {t["kind"] for t in tracks.values()}
        assert kinds == {"static", "video"}
        home = client.get("/").text
        assert all(f"/leaderboard/{t}/live" in home for t in tracks)
    app.state.engine.dispose()
    assert utcnow() < competition.phases["live"].end
