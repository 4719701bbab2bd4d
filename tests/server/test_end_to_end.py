"""The API end to end: register, upload in chunks, score in the worker, rank, release."""

from __future__ import annotations

import csv
import io

from neurotwin.server.worker import run_worker
from server_helpers import BONUS, STATIC, VIDEO, csrf, register, upload


def test_upload_score_rank_and_release(client, competition, examples):
    alpha = register(client, "a@lab.org", "alpha")
    beta = register(client, "b@lab.org", "beta")
    r = upload(client, alpha, STATIC, examples[f"{STATIC}-good"], chunk=10_000)
    assert r.status_code == 201, r.text
    good_id = r.json()["id"]
    assert r.json()["status"] == "queued"
    r = upload(client, beta, STATIC, examples[f"{STATIC}-weak"])
    assert r.status_code == 201, r.text
    weak_id = r.json()["id"]
    # nothing is scored in the request: the leaderboard is empty until a worker runs
    assert client.get(f"/api/v1/leaderboard/{STATIC}/live").json()["rows"] == []
    assert run_worker(competition, once=True) == 2

    board = client.get(f"/api/v1/leaderboard/{STATIC}/live").json()
    assert [row["team"] for row in board["rows"]] == ["alpha", "beta"]
    best = board["rows"][0]
    assert best["submission"] == good_id and best["rank"] == 1
    assert 0 < best["score"] < best["ceiling"] <= 1.0
    assert best["fraction"] == best["score"] / best["ceiling"]
    assert best["scorer"].startswith("neurotwin ") and best["track_version"] == "1.0"

    # the page shows the score beside its ceiling; the CSV holds the same rows
    page = client.get(f"/leaderboard/{STATIC}/live").text
    assert f"{best['score']:.4f}" in page and f"{best['ceiling']:.4f}" in page
    rows = list(csv.DictReader(io.StringIO(client.get(f"/leaderboard/{STATIC}/live.csv").text)))
    assert [r["team"] for r in rows] == ["alpha", "beta"]
    assert float(rows[0]["score"]) == best["score"]

    # final-phase scores stay hidden, even from the team itself, until released
    final = client.get(f"/api/v1/leaderboard/{STATIC}/final").json()
    assert final == {"track": STATIC, "phase": "final", "released": False, "rows": []}
    assert "hidden until the organisers release" in client.get(f"/leaderboard/{STATIC}/final").text
    mine = client.get(f"/api/v1/submissions/{good_id}", headers=alpha).json()
    assert mine["scores"]["final"] == "hidden" and mine["scores"]["live"]["score"] > 0

    # one team cannot see another's submission
    assert client.get(f"/api/v1/submissions/{weak_id}", headers=alpha).status_code == 404
    assert [s["id"] for s in client.get("/api/v1/submissions", headers=alpha).json()] == [good_id]

    organiser = register(client, "org@lab.org", "organisers")
    assert (
        client.post("/api/v1/admin/release", json={"track": STATIC}, headers=organiser).status_code
        == 403
    )
    _make_organiser(competition, "org@lab.org")
    r = client.post("/api/v1/admin/release", json={"track": STATIC}, headers=organiser)
    assert r.status_code == 200, r.text
    final = client.get(f"/api/v1/leaderboard/{STATIC}/final").json()
    assert final["released"] and [row["team"] for row in final["rows"]] == ["alpha", "beta"]
    assert final["rows"][0]["score"] != best["score"]  # scored on the final tier


def test_video_track_scores_per_mouse(client, competition, examples):
    team = register(client, "v@lab.org", "video team")
    r = upload(client, team, VIDEO, examples[f"{VIDEO}-good"])
    assert r.status_code == 201, r.text
    run_worker(competition, once=True)
    (row,) = client.get(f"/api/v1/leaderboard/{VIDEO}/live").json()["rows"]
    assert len(row["per_mouse"]) == 1 and 0 < row["score"] < row["ceiling"]
    assert next(iter(row["per_mouse"].values())) == row["score"]  # one mouse: its mean is the score


def test_bonus_track_has_per_class_columns(client, competition, examples):
    team = register(client, "v@lab.org", "video team")
    assert upload(client, team, BONUS, examples[f"{BONUS}-good"]).status_code == 201
    run_worker(competition, once=True)
    (row,) = client.get(f"/api/v1/leaderboard/{BONUS}/live").json()["rows"]
    assert len(row["per_class"]) > 1 and all(v is not None for v in row["per_class"].values())
    page = client.get(f"/leaderboard/{BONUS}/live").text
    assert all(f"class {c}" in page for c in row["per_class"])
    header = client.get(f"/leaderboard/{BONUS}/live.csv").text.splitlines()[0]
    assert all(f"class:{c}" in header for c in row["per_class"])


def test_truth_is_never_served(client, competition):
    truth = competition.tracks[STATIC].truth["live"]
    for path in (
        f"/static/../truth/{truth.name}",
        f"/static/..%2Ftruth%2F{truth.name}",
        f"/truth/{truth.name}",
    ):
        r = client.get(path)
        assert r.status_code == 404, path
        assert b"neurotwin-truth" not in r.content
    info = client.get("/api/v1/competition").json()
    assert str(truth) not in str(info) and "truth" not in info["tracks"][STATIC]


def test_team_join_code_and_login(client):
    r = client.post(
        "/api/v1/register",
        json={"email": "f@lab.org", "password": "correct horse", "team": "gamma"},
    )
    code = r.json()["join_code"]
    assert code.startswith("team_")
    wrong = client.post(
        "/api/v1/register",
        json={"email": "g@lab.org", "password": "correct horse", "team": "gamma", "join_code": "x"},
    )
    assert wrong.status_code == 403
    taken = client.post(
        "/api/v1/register",
        json={"email": "g@lab.org", "password": "correct horse", "team": "gamma"},
    )
    assert taken.status_code == 409 and "join code" in taken.json()["error"]
    register(client, "g@lab.org", "gamma", join_code=code)
    assert (
        client.post("/api/v1/login", json={"email": "g@lab.org", "password": "nope"}).status_code
        == 401
    )
    token = client.post(
        "/api/v1/login", json={"email": "G@lab.org", "password": "correct horse"}
    ).json()["token"]
    assert (
        client.get("/api/v1/submissions", headers={"Authorization": f"Bearer {token}"}).status_code
        == 200
    )
    assert client.get("/api/v1/submissions").status_code == 401


def _make_organiser(competition, email):
    from sqlalchemy import update

    from neurotwin.server.db import make_engine
    from neurotwin.server.models import User

    engine = make_engine(competition.database_url)
    with engine.begin() as conn:
        conn.execute(update(User).where(User.email == email).values(is_organiser=True))
    engine.dispose()


def test_team_names_cannot_read_as_spreadsheet_formulas(client):
    for name in ("+SUM(A1)", "-2+3", "=cmd", "@x", "a"):
        r = client.post(
            "/api/v1/register",
            json={"email": "h@lab.org", "password": "correct horse", "team": name},
        )
        assert r.status_code == 400, name


def test_web_log_in_and_log_out_revokes_the_session(client):
    register(client, "w@lab.org", "web team")
    r = client.post(
        "/login",
        data={"email": "w@lab.org", "password": "correct horse", "csrf": csrf(client)},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/team"
    token = r.cookies["neurotwin_token"]
    assert "Team web team" in client.get("/team").text  # the client keeps the cookie
    client.post("/logout", data={"csrf": csrf(client, "/team")}, follow_redirects=False)
    client.cookies.set("neurotwin_token", token)  # the old cookie, kept by a careless browser
    r = client.get("/team")
    assert r.status_code == 401 and "log in first" in r.text
