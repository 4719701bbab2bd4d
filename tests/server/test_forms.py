"""The upload form is parsed as it arrives: its file goes to disk in chunks, byte for byte."""

from __future__ import annotations

import hashlib
import tracemalloc

import anyio
import pytest
from fastapi.testclient import TestClient

from neurotwin.server.app import create_app
from neurotwin.server.errors import RequestError
from neurotwin.server.forms import read_form
from server_helpers import STATIC, csrf, register, write_competition

BOUNDARY = "----neurotwin-test-boundary"
CHUNK = 1 << 20


def _block(i: int) -> bytes:
    """The i-th MiB of the test file: made on the fly, never held whole."""
    return hashlib.sha256(str(i).encode()).digest() * (CHUNK // 32)


async def _body(mib: int, digest: hashlib._Hash, fields: dict[str, str]):
    head = "".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in fields.items()
    )
    yield (
        head + f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        'filename="big.zip"\r\nContent-Type: application/zip\r\n\r\n'
    ).encode()
    for i in range(mib):
        block = _block(i)
        digest.update(block)
        yield block
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def test_a_large_form_upload_is_streamed_byte_exact_in_bounded_memory(tmp_path):
    mib = 48
    sent = hashlib.sha256()
    seen = {}

    def on_file(fields):
        seen.update(fields)
        return 1 << 40

    async def run():
        return await read_form(
            _body(mib, sent, {"csrf": "t", "track": STATIC}),
            f"multipart/form-data; boundary={BOUNDARY}",
            tmp_path,
            on_file,
        )

    tracemalloc.start()
    try:
        form = anyio.run(run)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == {"csrf": "t", "track": STATIC}  # the fields came before the file's bytes
    assert form.file is not None and form.file.size == mib * CHUNK
    received = hashlib.sha256()
    with open(form.file.path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            received.update(block)
    assert received.hexdigest() == sent.hexdigest()
    # a few chunks at most in memory, never the 48 MiB file
    assert peak < 8 * CHUNK, f"peak {peak / CHUNK:.1f} MiB"


def test_a_form_file_over_the_limit_is_cut_off_and_deleted(tmp_path):
    async def run():
        return await read_form(
            _body(4, hashlib.sha256(), {"csrf": "t"}),
            f"multipart/form-data; boundary={BOUNDARY}",
            tmp_path,
            lambda fields: 2 * CHUNK,
        )

    with pytest.raises(RequestError, match="larger than the 2097152 bytes allowed") as info:
        anyio.run(run)
    assert info.value.status == 413
    assert list(tmp_path.iterdir()) == []


def test_upload_through_the_page_form(tmp_path, truths, examples):
    competition = write_competition(
        tmp_path / "comp", {STATIC: truths[STATIC]}, f"sqlite:///{tmp_path / 'db.sqlite'}"
    )
    app = create_app(competition)
    with TestClient(app) as client:
        register(client, "p@lab.org", "pagers")
        r = client.post(
            "/login",
            data={"email": "p@lab.org", "password": "correct horse", "csrf": csrf(client)},
        )
        assert r.status_code == 200
        path = examples[f"{STATIC}-good"]
        token = csrf(client, "/team")
        files = {"file": (path.name, path.read_bytes(), "application/zip")}
        bad = client.post("/submit", data={"csrf": "x", "track": STATIC}, files=files)
        assert bad.status_code == 403
        r = client.post("/submit", data={"csrf": token, "track": STATIC}, files=files)
        assert r.status_code == 200 and "queued" in r.text, r.text
        (sub,) = client.get("/api/v1/submissions").json()
        assert sub["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        # nothing is left behind in the incoming folder
        assert list((competition.uploads_dir / "incoming").iterdir()) == []
    app.state.engine.dispose()
