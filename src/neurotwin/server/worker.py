"""The scoring worker (``neurotwin serve worker``): takes jobs from the queue and scores them.

Scoring never runs inside a web request. While the queue is empty the worker also deletes
abandoned partial uploads (:func:`neurotwin.server.uploads.cleanup_abandoned`) every
:data:`CLEANUP_EVERY_S` seconds. A worker claims a job under a lease and renews
the lease from a heartbeat thread while it scores; if it dies, the lease expires and the
job is claimed again by the next worker. The scores, the job's end and the submission's
state are written in one transaction.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from neurotwin.errors import NeurotwinError
from neurotwin.server import queue, scoring_adapter, uploads
from neurotwin.server.config import Competition
from neurotwin.server.db import make_engine, session_factory, utcnow
from neurotwin.server.models import SUB_FAILED, SUB_SCORED, SUB_SCORING, Job, Score, Submission

#: Default seconds a claim lasts without renewal.
LEASE_S = 60.0
#: Seconds between clean-ups of abandoned uploads while the queue is empty.
CLEANUP_EVERY_S = 600.0


def worker_name() -> str:
    """Return ``host:pid``, recorded on the jobs this process claims."""
    return f"{socket.gethostname()}:{os.getpid()}"


class _Heartbeat:
    """Renew a job's lease every third of the lease until stopped."""

    def __init__(self, session: Session, job: Job, lease_s: float) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(session, job, lease_s), daemon=True)

    def _run(self, session: Session, job: Job, lease_s: float) -> None:
        while not self._stop.wait(lease_s / 3):
            queue.renew(session, job, lease_s)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def process(competition: Competition, engine: Engine, job: Job, lease_s: float) -> str:
    """Score one claimed job and record the outcome; return ``"scored"`` or ``"failed"``."""
    sessions = session_factory(engine)
    with sessions() as session:
        sub = session.get(Submission, job.submission_id)
    assert sub is not None
    if job.attempts > queue.MAX_ATTEMPTS:
        return _record(
            sessions,
            job,
            sub,
            None,
            "",
            f"scoring stopped {queue.MAX_ATTEMPTS} times without finishing "
            "(the worker died or ran out of time)",
        )
    if job.kind == "score":
        with sessions.begin() as session:
            session.execute(
                update(Submission).where(Submission.id == sub.id).values(status=SUB_SCORING)
            )
    track = competition.track(sub.track)
    truth_digest = ",".join(sorted({scoring_adapter.truth_sha256(p) for p in track.truth.values()}))
    with sessions() as beat_session, _Heartbeat(beat_session, job, lease_s):
        try:
            results = scoring_adapter.score(sub.track, Path(sub.path), track.truth)
            if not results:
                raise NeurotwinError(f"{sub.filename} holds no phase of track {sub.track}")
        except NeurotwinError as exc:
            return _record(sessions, job, sub, None, truth_digest, str(exc))
        except Exception as exc:  # a scorer bug must not lose the submission
            return _record(
                sessions, job, sub, None, truth_digest, f"internal scoring error: {exc!r}"
            )
    return _record(sessions, job, sub, results, truth_digest, None)


def _record(
    sessions: sessionmaker[Session],
    job: Job,
    sub: Submission,
    results: dict[str, scoring_adapter.PhaseResult] | None,
    truth_digest: str,
    error: str | None,
) -> str:
    with sessions.begin() as session:
        if not queue.finish(session, job, error):
            return "lost"
        if results is not None:
            old = select(Score.id).where(Score.submission_id == sub.id, Score.current)
            old_ids = list(session.scalars(old))
            for r in results.values():
                session.add(
                    Score(
                        submission_id=sub.id,
                        phase=r.phase,
                        value=r.value,
                        ceiling=r.ceiling,
                        metrics=r.metrics,
                        scorer=r.scorer,
                        track_version=r.track_version,
                        truth_sha256=truth_digest,
                        current=True,
                        created=utcnow(),
                    )
                )
            if old_ids:
                session.execute(update(Score).where(Score.id.in_(old_ids)).values(current=False))
            session.execute(
                update(Submission)
                .where(Submission.id == sub.id)
                .values(status=SUB_SCORED, error=None)
            )
        elif job.kind == "score":
            session.execute(
                update(Submission)
                .where(Submission.id == sub.id)
                .values(status=SUB_FAILED, error=error)
            )
    return "scored" if results is not None else "failed"


def run_worker(
    competition: Competition,
    *,
    once: bool = False,
    poll_s: float = 1.0,
    lease_s: float = LEASE_S,
    max_jobs: int | None = None,
) -> int:
    """Take jobs from the queue and score them.

    Parameters
    ----------
    competition
        The competition (its database and truth files).
    once
        Stop when the queue is empty instead of waiting for more jobs.
    poll_s
        Seconds between looks at an empty queue.
    lease_s
        Seconds a claim lasts without renewal (renewed every third of it while scoring).
    max_jobs
        Stop after this many jobs (None: no limit).

    Returns
    -------
    int
        The number of jobs processed.
    """
    engine = make_engine(competition.database_url)
    sessions = session_factory(engine)
    name = worker_name()
    done = 0
    last_cleanup = float("-inf")
    try:
        while max_jobs is None or done < max_jobs:
            with sessions() as session:
                job = queue.claim(engine, session, name, lease_s)
            if job is None:
                if time.monotonic() - last_cleanup >= CLEANUP_EVERY_S:
                    with sessions.begin() as session:
                        uploads.cleanup_abandoned(session, competition, utcnow())
                    last_cleanup = time.monotonic()
                if once:
                    break
                time.sleep(poll_s)
                continue
            process(competition, engine, job, lease_s)
            done += 1
    finally:
        engine.dispose()
    return done
