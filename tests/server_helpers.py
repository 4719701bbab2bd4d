"""Helpers of the competition server's tests: a competition folder, accounts, uploads."""

from __future__ import annotations

import json
import re
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from neurotwin.server.config import Competition, load_competition
from neurotwin.server.db import migrate, utcnow

STATIC, VIDEO, BONUS = "sensorium+", "video-main", "video-bonus"


def write_competition(
    folder: Path, truths: dict[str, Path], database_url: str, **track_settings: Any
) -> Competition:
    """Write a competition folder with both tracks open now; migrate its database."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "truth").mkdir(exist_ok=True)
    now = utcnow().replace(microsecond=0)
    tracks = {}
    for track, path in truths.items():
        shutil.copyfile(path, folder / "truth" / path.name)
        tracks[track] = {
            "truth": f"truth/{path.name}",
            "submissions_per_day": 5,
            "max_upload_mb": 64,
            **track_settings,
        }
    day = timedelta(days=1)
    config = {
        "title": "test competition",
        "phases": {
            "live": {"start": (now - day).isoformat(), "end": (now + day).isoformat()},
            "final": {"start": (now + day).isoformat(), "end": (now + 2 * day).isoformat()},
        },
        "tracks": tracks,
        "database": database_url,
    }
    (folder / "competition.json").write_text(json.dumps(config))
    competition = load_competition(folder)
    migrate(competition.database_url)
    return competition


def register(client: TestClient, email: str, team: str, **extra: Any) -> dict[str, str]:
    """Register an account; return the headers that authenticate it."""
    r = client.post(
        "/api/v1/register",
        json={"email": email, "password": "correct horse", "team": team, **extra},
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def upload(
    client: TestClient,
    headers: dict[str, str],
    track: str,
    path: Path,
    *,
    filename: str | None = None,
    chunk: int = 64 * 1024,
) -> Any:
    """Upload a file in chunks through the API; return the completion response."""
    data = path.read_bytes()
    r = client.post(
        "/api/v1/uploads",
        json={"track": track, "filename": filename or path.name, "size": len(data)},
        headers=headers,
    )
    if r.status_code != 201:
        return r
    key = r.json()["key"]
    for offset in range(0, len(data), chunk):
        part = data[offset : offset + chunk]
        r = client.put(
            f"/api/v1/uploads/{key}",
            content=part,
            headers={**headers, "Upload-Offset": str(offset)},
        )
        assert r.status_code == 200, r.text
    return client.post(f"/api/v1/uploads/{key}/complete", json={}, headers=headers)


def csrf(client: TestClient, page: str = "/") -> str:
    """Return the CSRF token of a page's forms (the client keeps the nonce cookie)."""
    r = client.get(page)
    assert r.status_code == 200, r.text
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', r.text)
    assert found is not None, f"no CSRF token on {page}"
    return found.group(1)
