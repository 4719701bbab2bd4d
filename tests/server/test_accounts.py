"""Accounts: e-mail verification, password reset, rate limits and CSRF-protected forms."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from neurotwin.server.app import create_app
from neurotwin.server.config import load_competition
from neurotwin.server.db import make_engine, utcnow
from neurotwin.server.mail import outbox
from neurotwin.server.models import AccountToken
from neurotwin.server.security import digest
from server_helpers import STATIC, csrf, register, upload, write_competition


def _settings(competition, **settings):
    """Rewrite competition.json with extra settings and reload it."""
    path = competition.folder / "competition.json"
    config = json.loads(path.read_text())
    config.update(settings)
    path.write_text(json.dumps(config))
    return load_competition(competition.folder)


@pytest.fixture
def site(tmp_path, truths):
    """A SQLite competition (accounts need no second database) and its test client."""
    competition = write_competition(
        tmp_path / "comp", {STATIC: truths[STATIC]}, f"sqlite:///{tmp_path / 'db.sqlite'}"
    )
    app = create_app(competition)
    with TestClient(app) as c:
        yield competition, c
    app.state.engine.dispose()


def _token_from_outbox(competition, to, purpose):
    """Return the token of the newest message of a purpose to an address."""
    for path in sorted(outbox(competition).glob("*.eml"), reverse=True):
        text = path.read_text()
        if f"To: {to}" in text and f"{purpose}_" in text:
            return re.search(rf"({purpose}_[A-Za-z0-9_-]+)", text).group(1)
    raise AssertionError(f"no {purpose} message to {to} in {outbox(competition)}")


def _expire(competition, purpose):
    engine = make_engine(competition.database_url)
    with engine.begin() as conn:
        conn.execute(
            update(AccountToken)
            .where(AccountToken.purpose == purpose)
            .values(expires=utcnow() - timedelta(seconds=1))
        )
    engine.dispose()


def test_email_verification_gates_uploads_when_required(site, examples):
    competition, client = site
    client.app.state.competition = _settings(competition, require_verified_email=True)
    team = register(client, "v@lab.org", "verifiers")
    token = _token_from_outbox(competition, "v@lab.org", "verify")
    # the database keeps only the digest
    db = b"".join(p.read_bytes() for p in competition.folder.parent.glob("db.sqlite*"))
    assert token.encode() not in db and digest(token).encode() in db
    r = upload(client, team, STATIC, examples[f"{STATIC}-good"])
    assert r.status_code == 403 and "verify your e-mail address v@lab.org" in r.json()["error"]
    assert client.post("/api/v1/verify", json={"token": "verify_nonsense"}).status_code == 400
    page = client.get(f"/verify?token={token}")
    assert page.status_code == 200 and "v@lab.org is verified" in page.text
    again = client.post("/api/v1/verify", json={"token": token})
    assert again.status_code == 400 and "used already" in again.json()["error"]
    assert upload(client, team, STATIC, examples[f"{STATIC}-good"]).status_code == 201
    # an expired link fails with its reason
    other = register(client, "w@lab.org", "waiters")
    assert client.post("/api/v1/verify/resend", headers=other).status_code == 200
    _expire(competition, "verify")
    late = client.post(
        "/api/v1/verify", json={"token": _token_from_outbox(competition, "w@lab.org", "verify")}
    )
    assert late.status_code == 400 and "expired" in late.json()["error"]


def test_password_reset_by_token(site):
    competition, client = site
    old = register(client, "r@lab.org", "resetters")
    # the same answer for an unknown address: nothing reveals who is registered
    for email in ("r@lab.org", "nobody@lab.org"):
        r = client.post("/api/v1/password/forgot", json={"email": email})
        assert r.status_code == 200 and r.json() == {"sent": True}
    assert len(list(outbox(competition).glob("*.eml"))) == 2  # verification + one reset
    token = _token_from_outbox(competition, "r@lab.org", "reset")
    short = client.post("/api/v1/password/reset", json={"token": token, "password": "short"})
    assert short.status_code == 400
    r = client.post("/api/v1/password/reset", json={"token": token, "password": "a new secret"})
    assert r.status_code == 200, r.text
    assert client.get("/api/v1/submissions", headers=old).status_code == 401  # tokens revoked
    login = {"email": "r@lab.org", "password": "a new secret"}
    assert client.post("/api/v1/login", json=login).status_code == 200
    used = client.post("/api/v1/password/reset", json={"token": token, "password": "x" * 9})
    assert used.status_code == 400 and "used already" in used.json()["error"]
    # through the pages, with an expired link
    client.post("/forgot", data={"email": "r@lab.org", "csrf": csrf(client, "/forgot")})
    _expire(competition, "reset")
    token = _token_from_outbox(competition, "r@lab.org", "reset")
    form = {
        "token": token,
        "password": "third secret",
        "csrf": csrf(client, f"/reset?token={token}"),
    }
    r = client.post("/reset", data=form)
    assert r.status_code == 400 and "expired" in r.text


def test_rate_limits_per_ip_and_per_account(client, competition, examples):
    limited = _settings(
        competition, rate_limits={"login": [3, 60], "register": [4, 3600], "upload": [2, 60]}
    )
    client.app.state.competition = limited
    alpha = register(client, "a@lab.org", "alpha")
    register(client, "b@lab.org", "beta")
    bad = {"email": "a@lab.org", "password": "wrong password"}
    assert [client.post("/api/v1/login", json=bad).status_code for _ in range(3)] == [401] * 3
    r = client.post("/api/v1/login", json={**bad, "password": "correct horse"})
    assert r.status_code == 429 and "per 60 s" in r.json()["error"]  # the right one waits too
    # per account: another IP address is refused for the same account
    other_ip = TestClient(client.app, client=("10.0.0.9", 5000))
    r = other_ip.post("/api/v1/login", json=bad)
    assert r.status_code == 429 and "this account" in r.json()["error"]
    # per IP address: registrations
    register(client, "c@lab.org", "gamma")
    register(client, "d@lab.org", "delta")
    r = client.post(
        "/api/v1/register", json={"email": "e@lab.org", "password": "correct horse", "team": "e"}
    )
    assert r.status_code == 429 and "this IP address" in r.json()["error"]
    # uploads per account
    good = examples[f"{STATIC}-good"]
    assert [upload(client, alpha, STATIC, good).status_code for _ in range(2)] == [201, 201]
    r = upload(client, alpha, STATIC, good)
    assert r.status_code == 429 and "upload attempts" in r.json()["error"]


def test_forms_need_a_session_bound_csrf_token(site):
    _, client = site
    register(client, "f@lab.org", "formers")
    login = {"email": "f@lab.org", "password": "correct horse"}
    for token in ("", "0" * 64):
        r = client.post("/login", data={**login, "csrf": token}, follow_redirects=False)
        assert r.status_code == 403 and "reload the page" in r.text
    r = client.post("/login", data={**login, "csrf": csrf(client)}, follow_redirects=False)
    assert r.status_code == 303
    # the anonymous page's token does not validate a form of the logged-in session
    anonymous = csrf(TestClient(client.app))
    assert client.post("/logout", data={"csrf": anonymous}).status_code == 403
    # another browser (another nonce cookie) cannot reuse this session's token
    mine = csrf(client, "/team")
    thief = TestClient(client.app)
    thief.get("/")  # its own nonce cookie
    thief.cookies.set("neurotwin_token", client.cookies["neurotwin_token"])
    assert thief.post("/logout", data={"csrf": mine}).status_code == 403
    assert client.post("/logout", data={"csrf": mine}, follow_redirects=False).status_code == 303
    r = client.post(
        "/register",
        data={"email": "x@lab.org", "password": "correct horse", "team": "xs", "csrf": ""},
    )
    assert r.status_code == 403
