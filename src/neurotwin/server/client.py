"""Upload a submission to a competition server from Python or the command line.

:func:`upload_submission` starts an upload, sends the file in chunks and, when the
connection breaks, asks the server how much arrived and goes on from there (a bounded
number of times); then it completes the upload, which the server checks and queues.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import httpx

from neurotwin.errors import NeurotwinError

#: Bytes per request.
CHUNK = 8 << 20
#: The environment variable the command line reads the API token from.
TOKEN_ENV = "NEUROTWIN_TOKEN"


def _check(response: httpx.Response, url: str) -> dict[str, Any]:
    if response.status_code >= 400:
        try:
            message = response.json().get("error", response.text)
        except ValueError:
            message = response.text[:200]
        raise NeurotwinError(f"{url}: {message} (HTTP {response.status_code})")
    data: dict[str, Any] = response.json()
    return data


def upload_submission(
    server: str,
    token: str,
    track: str,
    path: str | os.PathLike[str],
    *,
    description: str = "",
    chunk: int = CHUNK,
    retries: int = 5,
    http: httpx.Client | None = None,
) -> dict[str, Any]:
    """Upload a submission file (or a folder, zipped first) and return the queued submission.

    Parameters
    ----------
    server
        The server's base URL, e.g. ``https://competition.example.org``.
    token
        An API token of a team member.
    track
        The track identifier.
    path
        A zip of the track's files, one phase's file, or a folder holding the files.
    description
        Shown in the team's history.
    chunk
        Bytes per request.
    retries
        How many broken connections are resumed before giving up.
    http
        An HTTP client to use (tests pass the application's test client).

    Returns
    -------
    dict
        The submission as the server describes it (``id``, ``status``, ...).

    Raises
    ------
    NeurotwinError
        With the server's reason when it refuses the upload (422 lists every problem the
        checks found), or when the connection broke more than ``retries`` times.
    """
    path = Path(path)
    if path.is_dir():
        with tempfile.TemporaryDirectory() as tmp:
            archive = shutil.make_archive(str(Path(tmp) / path.name), "zip", path)
            return upload_submission(
                server,
                token,
                track,
                archive,
                description=description,
                chunk=chunk,
                retries=retries,
                http=http,
            )
    if not path.is_file():
        raise NeurotwinError(f"{path} does not exist")
    own = http is None
    client = http or httpx.Client(base_url=server.rstrip("/"), timeout=300)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        size = path.stat().st_size
        started = _check(
            client.post(
                "/api/v1/uploads",
                json={"track": track, "filename": path.name, "size": size},
                headers=headers,
            ),
            server,
        )
        key = started["key"]
        offset, failures = 0, 0
        with open(path, "rb") as f:
            while offset < size:
                f.seek(offset)
                data = f.read(chunk)
                try:
                    response = client.put(
                        f"/api/v1/uploads/{key}",
                        content=data,
                        headers={**headers, "Upload-Offset": str(offset)},
                    )
                    offset = int(_check(response, server)["offset"])
                except httpx.TransportError as exc:
                    failures += 1
                    if failures > retries:
                        raise NeurotwinError(
                            f"{server}: upload of {path} broke {failures} times ({exc}); "
                            f"upload {key} holds the bytes sent so far"
                        ) from exc
                    status = client.get(f"/api/v1/uploads/{key}", headers=headers)
                    offset = int(_check(status, server)["offset"])
        return _check(
            client.post(
                f"/api/v1/uploads/{key}/complete",
                json={"description": description},
                headers=headers,
            ),
            server,
        )
    finally:
        if own:
            client.close()
