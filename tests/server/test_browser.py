"""In a real browser: register, upload through the page, see the submission ranked.

Headless Chromium from Debian's packages (``/usr/bin/chromium``) driven by Playwright with
its executable path set to it; Playwright's own browser downloads are never used. Skipped
without them, except under CI (``CI=true``), where ``.ci/run`` installs both.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from neurotwin.server.app import create_app
from neurotwin.server.worker import run_worker
from server_helpers import STATIC, write_competition

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _need_browser() -> None:
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package")
    if not CHROMIUM.exists():
        missing.append(str(CHROMIUM))
    if missing:
        reason = f"no browser test without {' and '.join(missing)}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server(tmp_path, truths):
    _need_browser()
    import uvicorn

    competition = write_competition(
        tmp_path / "comp", truths, f"sqlite:///{tmp_path / 'comp.sqlite'}"
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(competition), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    yield competition, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_register_upload_and_see_it_ranked(live_server, examples, tmp_path):
    from playwright.sync_api import sync_playwright

    competition, url = live_server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        page = browser.new_page()
        page.goto(url + "/")
        form = page.locator("form#register")
        form.locator("input[name=email]").fill("ada@lab.org")
        form.locator("input[name=password]").fill("correct horse")
        form.locator("input[name=team]").fill("Ada Lab")
        form.locator("button").click()
        page.wait_for_url(url + "/team")
        upload = page.locator("form#upload")
        upload.locator("select[name=track]").select_option(STATIC)
        upload.locator("input[name=file]").set_input_files(str(examples[f"{STATIC}-good"]))
        upload.locator("button").click()
        page.wait_for_url(url + "/team")
        assert "queued" in page.locator("table#history").inner_text()
        assert run_worker(competition, once=True) == 1
        page.reload()
        assert "scored" in page.locator("table#history").inner_text()
        page.goto(f"{url}/leaderboard/{STATIC}/live")
        first = page.locator("table#leaderboard tbody tr").first.inner_text()
        assert first.split("\t")[:2] == ["1", "Ada Lab"]
        # every asset comes from the application itself
        assert page.evaluate("getComputedStyle(document.body).margin") == "0px"
        page.screenshot(path=str(tmp_path / "leaderboard.png"), full_page=True)
        browser.close()
    assert (tmp_path / "leaderboard.png").stat().st_size > 1000
