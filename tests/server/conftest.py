"""A tiny simulated competition on SQLite and, when a server is reachable, PostgreSQL.

PostgreSQL: set ``NEUROTWIN_TEST_POSTGRES_URL`` to a URL whose role may create databases
(``.ci/run`` starts a local server and sets it). Each test gets a fresh database. Without
the variable the PostgreSQL tests are skipped, except under CI (``CI=true``), where they
fail: CI must exercise both databases.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from neurotwin.scoring.truth import make_truth
from neurotwin.scoring.truth_file import load_truth, save_truth
from neurotwin.server.app import create_app
from neurotwin.server.config import Competition
from neurotwin.server.demo import write_example
from server_helpers import BONUS, STATIC, VIDEO, write_competition

POSTGRES_ENV = "NEUROTWIN_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tiny simulated static mouse and a tiny video mouse in competition mode (made once)."""
    from neurotwin.simulate import simulate_static, simulate_video

    root = tmp_path_factory.mktemp("sim")
    (static,) = simulate_static(
        root, "tiny", seed=3, competition=True, train=16, validation=4, neurons=12
    )
    (video,) = simulate_video(root, "tiny", seed=3, competition=True, train=2, neurons=8)
    return {"static": static, "video": video, "root": root}


@pytest.fixture(scope="session")
def truths(simulated: dict[str, Any]) -> dict[str, Path]:
    """Truth files of the tiny simulated static and video mice (made once)."""
    static, video, root = simulated["static"], simulated["video"], simulated["root"]
    out = {}
    for track, rec in ((STATIC, static), (VIDEO, video), (BONUS, video)):
        truth = make_truth(track, [rec.path], simulator=[rec.truth])
        out[track] = save_truth(truth, root / f"{track}.npz")
    return out


@pytest.fixture(scope="session")
def examples(truths: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Uploads: per track, a good, a weak and a very weak noisy-oracle submission."""
    root = tmp_path_factory.mktemp("examples")
    out = {}
    for track, path in truths.items():
        truth = load_truth(path)
        for name, noise in (("good", 0.3), ("weak", 2.0), ("poor", 6.0)):
            out[f"{track}-{name}"] = write_example(truth, track, root / f"{track}-{name}", noise)
    return out


def _postgres_url() -> str | None:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but ${POSTGRES_ENV} is not set: the PostgreSQL tests must run")
        pytest.skip(f"no PostgreSQL server: set ${POSTGRES_ENV} to run these tests")
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh empty database: a SQLite file, or a new PostgreSQL database dropped after."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'competition.sqlite'}"
        return
    url = _postgres_url()
    assert url is not None
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(url.replace("postgresql+psycopg://", "postgresql://"))
    name = f"neurotwin_test_{uuid.uuid4().hex[:12]}"
    dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield admin.set(drivername="postgresql+psycopg", database=name).render_as_string(
        hide_password=False
    )
    _drop_database(dsn, name)


def _drop_database(dsn: str, name: str) -> None:
    """Drop a test database; retry while a server process (autovacuum) still holds it."""
    import psycopg

    for attempt in range(40):
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except psycopg.errors.InsufficientPrivilege:
            if attempt == 39:
                raise
            time.sleep(0.25)


@pytest.fixture
def competition(tmp_path: Path, truths: dict[str, Path], database_url: str) -> Competition:
    """A tiny competition (sensorium+ and video-main, 5 a day) on the parametrised database."""
    return write_competition(tmp_path / "competition", truths, database_url)


@pytest.fixture
def client(competition: Competition) -> Iterator[TestClient]:
    """A test client of the application."""
    app = create_app(competition)
    with TestClient(app) as c:
        yield c
    app.state.engine.dispose()
