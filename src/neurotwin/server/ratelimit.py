"""Rate limits of log-in, registration, uploads and e-mail, counted in the database.

Each attempt is one row of ``rate_events`` keyed by action and client (IP address or
account), written in its own transaction so that failed attempts count too. Counting in the
database makes the limits hold across every web process of a deployment; two requests
racing past the last free slot may both pass (the limit is a brake, not an exact quota).
Behind a reverse proxy, start uvicorn with ``--proxy-headers`` so that the client's address
is the real one rather than the proxy's.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from neurotwin.server.config import Competition
from neurotwin.server.db import utcnow
from neurotwin.server.errors import RequestError
from neurotwin.server.models import RateEvent


def hit(
    sessions: sessionmaker[Session],
    competition: Competition,
    action: str,
    clients: dict[str, str | None],
) -> None:
    """Record one attempt of ``action``, or refuse it past the limit.

    Parameters
    ----------
    sessions
        The session maker (the event is committed at once, whatever the request does).
    competition
        Its ``settings.rate_limits[action]``: ``(count, seconds)``.
    action
        ``login``, ``register``, ``upload`` or ``mail``.
    clients
        What to count per: ``{"IP address": "10.0.0.1", "account": "a@lab.org"}`` (None
        values are skipped).

    Raises
    ------
    RequestError
        429 naming the limit and the seconds until the next attempt is allowed.
    """
    count, seconds = competition.settings.rate_limits[action]
    now = utcnow()
    since = now - timedelta(seconds=seconds)
    keys = {kind: f"{action}:{kind}:{value}" for kind, value in clients.items() if value}
    with sessions.begin() as session:
        session.execute(
            delete(RateEvent).where(RateEvent.key.in_(keys.values()), RateEvent.created < since)
        )
        for kind, key in keys.items():
            used = session.scalar(
                select(func.count(RateEvent.id)).where(
                    RateEvent.key == key, RateEvent.created >= since
                )
            )
            if (used or 0) >= count:
                oldest = session.scalar(
                    select(func.min(RateEvent.created)).where(RateEvent.key == key)
                )
                wait = 1 if oldest is None else (oldest - since).total_seconds()
                raise RequestError(
                    429,
                    f"too many {action} attempts from this {kind} ({count} per "
                    f"{seconds:g} s); try again in {max(1, int(wait) + 1)} s",
                )
        for key in keys.values():
            session.add(RateEvent(key=key, created=now))
