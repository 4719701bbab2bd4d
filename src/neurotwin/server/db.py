"""The database: engine, sessions and schema migrations (alembic).

SQLite (a file in the competition folder) by default; PostgreSQL by URL
(``postgresql+psycopg://user:password@host/db``). A plain ``postgresql://`` URL is given the
psycopg 3 driver.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


def utcnow() -> datetime:
    """Return the current time as a naive UTC datetime (how the database stores times)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def normalize_url(url: str) -> str:
    """Return ``url`` with the psycopg 3 driver named for PostgreSQL."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> Engine:
    """Create the engine of a database URL.

    SQLite connections wait up to 30 s for a lock (workers and the web application write
    to the same file) and use the write-ahead log so that readers never block the writer.

    Parameters
    ----------
    url
        SQLAlchemy URL.

    Returns
    -------
    sqlalchemy.Engine
        The engine.
    """
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return the session maker bound to ``engine`` (objects stay usable after commit)."""
    return sessionmaker(engine, expire_on_commit=False)


def migrate(url: str, revision: str = "head") -> None:
    """Bring the database schema to ``revision`` with alembic (creating it if empty).

    Parameters
    ----------
    url
        SQLAlchemy URL.
    revision
        The alembic revision (``"head"``: the newest).
    """
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    command.upgrade(config, revision)


def is_postgres(engine: Engine) -> bool:
    """Whether the engine talks to PostgreSQL."""
    return engine.dialect.name == "postgresql"
