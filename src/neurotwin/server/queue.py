"""The scoring queue, kept in the database.

A worker claims one job at a time under a lease. On PostgreSQL the claim selects with
``FOR UPDATE SKIP LOCKED``, so concurrent workers never take the same job; on SQLite one
``UPDATE ... WHERE id = (SELECT ...)`` claims atomically (SQLite serialises writers). A job
whose lease expired (its worker died or hung) is claimable again; after ``max_attempts``
claims it fails with that reason instead of looping forever.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import Engine, or_, select, update
from sqlalchemy.orm import Session

from neurotwin.server.db import is_postgres, utcnow
from neurotwin.server.models import DONE, FAILED, QUEUED, RUNNING, Job

#: Claims of a job before it is failed as "worker died while scoring".
MAX_ATTEMPTS = 3


def enqueue(session: Session, submission_id: int, kind: str = "score") -> Job:
    """Add a job for a submission to the session (committed with the caller's transaction)."""
    job = Job(submission_id=submission_id, kind=kind, status=QUEUED, created=utcnow())
    session.add(job)
    return job


def _claimable():  # type: ignore[no-untyped-def]
    now = utcnow()
    return or_(Job.status == QUEUED, (Job.status == RUNNING) & (Job.lease_until < now))


def claim(engine: Engine, session: Session, worker: str, lease_s: float) -> Job | None:
    """Claim the oldest claimable job for ``worker``, committing the claim.

    Parameters
    ----------
    engine
        The engine (its dialect chooses the locking strategy).
    session
        A session with no transaction in progress.
    worker
        The worker's name (host and process id), recorded on the job.
    lease_s
        Seconds until the claim expires unless renewed by :func:`renew`.

    Returns
    -------
    Job or None
        The claimed job, or None when the queue is empty.
    """
    token = uuid.uuid4().hex
    now = utcnow()
    values = {
        "status": RUNNING,
        "claim": token,
        "worker": worker,
        "lease_until": now + timedelta(seconds=lease_s),
        "attempts": Job.attempts + 1,
    }
    with session.begin():
        if is_postgres(engine):
            job_id = session.scalar(
                select(Job.id)
                .where(_claimable())
                .order_by(Job.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if job_id is None:
                return None
            session.execute(update(Job).where(Job.id == job_id).values(**values))
        else:
            first = select(Job.id).where(_claimable()).order_by(Job.id).limit(1).scalar_subquery()
            session.execute(
                update(Job)
                .where(Job.id == first, _claimable())
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        job = session.scalar(select(Job).where(Job.claim == token))
    return job


def renew(session: Session, job: Job, lease_s: float) -> bool:
    """Extend a running job's lease; False when the job is no longer this worker's."""
    with session.begin():
        result = session.execute(
            update(Job)
            .where(Job.id == job.id, Job.claim == job.claim, Job.status == RUNNING)
            .values(lease_until=utcnow() + timedelta(seconds=lease_s))
            .execution_options(synchronize_session=False)
        )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def finish(session: Session, job: Job, error: str | None = None) -> bool:
    """Mark a claimed job done (or failed with ``error``) inside the caller's transaction.

    Returns False, and changes nothing, when the claim was lost (the lease expired and
    another worker took the job): that worker's result wins.
    """
    result = session.execute(
        update(Job)
        .where(Job.id == job.id, Job.claim == job.claim, Job.status == RUNNING)
        .values(status=FAILED if error else DONE, error=error, finished=utcnow(), lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
