"""Bad uploads are refused before queueing, with the reason; good ones resume after a cut."""

from __future__ import annotations

import stat
import zipfile

import pytest

from neurotwin.scoring.tracks import get_track
from server_helpers import STATIC, VIDEO, register, upload

LIVE = get_track(STATIC).submission_files["live"]


def _zip(path, entries):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data, link in entries:
            info = zipfile.ZipInfo(name)
            if link:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return path


@pytest.fixture
def good_csv(examples, tmp_path):
    with zipfile.ZipFile(examples[f"{STATIC}-good"]) as zf:
        return zf.read(LIVE)


def _bad_uploads(tmp_path, good_csv, examples):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(LIVE, good_csv + b"\0" * (40 << 20))  # 40 MiB of zeros, ~40 kB zipped
    return {
        "zip bomb": (bomb, "refused before extraction"),
        "path traversal": (_zip(tmp_path / "t.zip", [(f"../{LIVE}", good_csv, False)]), "'..'"),
        "absolute path": (_zip(tmp_path / "a.zip", [(f"/{LIVE}", good_csv, False)]), "absolute"),
        "link": (_zip(tmp_path / "l.zip", [(LIVE, b"/etc/passwd", True)]), "links"),
        "nested archive": (
            _zip(tmp_path / "n.zip", [(LIVE, good_csv, False), ("inner.zip", b"PK", False)]),
            "nested archives",
        ),
        "wrong track": (examples[f"{VIDEO}-good"], "unexpected file"),
        "not a csv": (_write(tmp_path / LIVE, b"hello\nworld\n"), LIVE),
    }


def _write(path, data):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "case",
    [
        "zip bomb",
        "path traversal",
        "absolute path",
        "link",
        "nested archive",
        "wrong track",
        "not a csv",
    ],
)
def test_bad_upload_is_refused_with_its_reason(
    client, competition, examples, tmp_path, good_csv, case
):
    team = register(client, "a@lab.org", "alpha")
    path, reason = _bad_uploads(tmp_path, good_csv, examples)[case]
    r = upload(client, team, STATIC, path)
    assert r.status_code == 422, r.text
    assert reason in r.json()["error"]
    assert client.get("/api/v1/submissions", headers=team).json() == []  # nothing queued
    # the rejected file is gone from the server, and nothing was extracted anywhere
    leftovers = [p for p in competition.uploads_dir.rglob("*") if p.is_file()]
    assert leftovers == []


def test_oversized_upload_is_refused_before_any_byte(client, competition, examples):
    team = register(client, "a@lab.org", "alpha")
    limit = competition.tracks[STATIC].max_upload_bytes
    r = client.post(
        "/api/v1/uploads",
        json={"track": STATIC, "filename": "big.zip", "size": limit + 1},
        headers=team,
    )
    assert r.status_code == 413 and str(limit) in r.json()["error"]
    # more bytes than declared: refused, and the partial file keeps only what was declared
    r = client.post(
        "/api/v1/uploads", json={"track": STATIC, "filename": "x.zip", "size": 10}, headers=team
    )
    key = r.json()["key"]
    r = client.put(
        f"/api/v1/uploads/{key}", content=b"y" * 11, headers={**team, "Upload-Offset": "0"}
    )
    assert r.status_code == 413
    assert client.get(f"/api/v1/uploads/{key}", headers=team).json()["offset"] == 0


@pytest.mark.parametrize("name", ["../../etc/passwd.csv", "a/b.zip", ".hidden.zip", "x.exe"])
def test_unsafe_file_names_are_refused(client, name):
    team = register(client, "a@lab.org", "alpha")
    r = client.post(
        "/api/v1/uploads", json={"track": STATIC, "filename": name, "size": 10}, headers=team
    )
    assert r.status_code == 400, r.text


def test_unknown_track_and_anonymous_uploads_are_refused(client):
    team = register(client, "a@lab.org", "alpha")
    r = client.post(
        "/api/v1/uploads",
        json={"track": "sensorium", "filename": "x.zip", "size": 10},
        headers=team,
    )
    assert r.status_code == 400 and "not part of this competition" in r.json()["error"]
    r = client.post("/api/v1/uploads", json={"track": STATIC, "filename": "x.zip", "size": 10})
    assert r.status_code == 401


def test_interrupted_upload_resumes_at_the_offset_the_server_reports(client, examples):
    team = register(client, "a@lab.org", "alpha")
    data = examples[f"{STATIC}-good"].read_bytes()
    r = client.post(
        "/api/v1/uploads",
        json={"track": STATIC, "filename": "sub.zip", "size": len(data)},
        headers=team,
    )
    key = r.json()["key"]
    half = len(data) // 2
    client.put(
        f"/api/v1/uploads/{key}", content=data[:half], headers={**team, "Upload-Offset": "0"}
    )
    # completing early is refused and says where to resume
    r = client.post(f"/api/v1/uploads/{key}/complete", json={}, headers=team)
    assert r.status_code == 409 and f"resume at {half}" in r.json()["error"]
    # the client lost track: a wrong offset is refused, the server says where it stands
    r = client.put(
        f"/api/v1/uploads/{key}", content=data[5:], headers={**team, "Upload-Offset": "5"}
    )
    assert r.status_code == 409 and f"resume at {half}" in r.json()["error"]
    offset = client.get(f"/api/v1/uploads/{key}", headers=team).json()["offset"]
    assert offset == half
    r = client.put(
        f"/api/v1/uploads/{key}",
        content=data[offset:],
        headers={**team, "Upload-Offset": str(offset)},
    )
    assert r.json()["offset"] == len(data)
    r = client.post(f"/api/v1/uploads/{key}/complete", json={}, headers=team)
    assert r.status_code == 201, r.text
    import hashlib

    assert r.json()["sha256"] == hashlib.sha256(data).hexdigest()
    # another team cannot see or write this upload
    other = register(client, "b@lab.org", "beta")
    assert client.get(f"/api/v1/uploads/{key}", headers=other).status_code == 404


def test_daily_limit_resets_at_midnight_utc(client, competition, examples, monkeypatch):
    from datetime import datetime, timedelta

    from neurotwin.server import uploads

    team = register(client, "a@lab.org", "alpha")
    for _ in range(5):
        assert upload(client, team, STATIC, examples[f"{STATIC}-good"]).status_code == 201
    r = upload(client, team, STATIC, examples[f"{STATIC}-good"])
    assert r.status_code == 429 and "resets at" in r.json()["error"]
    # the other track has its own count
    assert upload(client, team, VIDEO, examples[f"{VIDEO}-good"]).status_code == 201
    tomorrow = datetime.combine(uploads.utcnow().date() + timedelta(days=1), datetime.min.time())
    monkeypatch.setattr(uploads, "utcnow", lambda: tomorrow + timedelta(seconds=1))
    assert upload(client, team, STATIC, examples[f"{STATIC}-good"]).status_code == 201


def test_client_resumes_after_broken_connections(client, examples, monkeypatch):
    import httpx

    from neurotwin.errors import NeurotwinError
    from neurotwin.server.client import upload_submission

    headers = register(client, "a@lab.org", "alpha")
    token = headers["Authorization"].split()[1]
    real_put = client.put
    calls = {"n": 0}

    def flaky_put(url, **kwargs):
        calls["n"] += 1
        if calls["n"] % 2 == 0:  # every second request: half the bytes arrive, then the line drops
            content = kwargs["content"]
            real_put(url, **{**kwargs, "content": content[: len(content) // 2]})
            raise httpx.ReadError("connection reset")
        return real_put(url, **kwargs)

    monkeypatch.setattr(client, "put", flaky_put)
    path = examples[f"{STATIC}-good"]
    sub = upload_submission("http://testserver", token, STATIC, path, chunk=2_000, http=client)
    assert sub["status"] == "queued"
    import hashlib

    assert sub["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert calls["n"] > 4
    # refusals come back as one clear error with the server's reason
    with pytest.raises(NeurotwinError, match="not part of this competition"):
        upload_submission("http://testserver", token, "sensorium", path, http=client)
    monkeypatch.setattr(
        client, "put", lambda url, **kw: (_ for _ in ()).throw(httpx.ReadError("x"))
    )
    with pytest.raises(NeurotwinError, match="broke 3 times"):
        upload_submission("http://testserver", token, STATIC, path, retries=2, http=client)


def test_serve_submit_command_needs_a_token(monkeypatch, capsys, examples):
    from neurotwin.cli import main

    monkeypatch.delenv("NEUROTWIN_TOKEN", raising=False)
    args = ["serve", "submit", "http://127.0.0.1:9", str(examples[f"{STATIC}-good"])]
    assert main([*args, "--track", STATIC]) == 2
    assert "NEUROTWIN_TOKEN" in capsys.readouterr().err
