"""The database tables (SQLAlchemy 2 declarative mapping).

Times are naive UTC datetimes. Secrets are never stored in clear: passwords as scrypt
hashes, API tokens and team join codes as SHA-256 digests of random 256-bit values.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

#: Job states of the scoring queue.
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
#: Submission states shown to teams.
SUB_QUEUED, SUB_SCORING, SUB_SCORED, SUB_FAILED = "queued", "scoring", "scored", "failed"


class Base(DeclarativeBase):
    """The declarative base of every table."""


class Team(Base):
    """A team: the unit that submits, is limited per day and is ranked."""

    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    join_code_hash: Mapped[str] = mapped_column(String(64))
    disqualified: Mapped[bool] = mapped_column(Boolean, default=False)
    is_baseline: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(DateTime)
    users: Mapped[list[User]] = relationship(back_populates="team")


class User(Base):
    """A participant (or organiser) account."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), nullable=True)
    is_organiser: Mapped[bool] = mapped_column(Boolean, default=False)
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(DateTime)
    team: Mapped[Team | None] = relationship(back_populates="users")


class AccountToken(Base):
    """A one-use e-mail token (verification or password reset), kept as its SHA-256 digest."""

    __tablename__ = "account_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    purpose: Mapped[str] = mapped_column(String(10))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[datetime] = mapped_column(DateTime)
    expires: Mapped[datetime] = mapped_column(DateTime)
    used: Mapped[bool] = mapped_column(Boolean, default=False)
    user: Mapped[User] = relationship()


class RateEvent(Base):
    """One rate-limited action (log-in, registration, upload) by an IP address or account."""

    __tablename__ = "rate_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(300))
    created: Mapped[datetime] = mapped_column(DateTime)


class Token(Base):
    """An API token (also the web session cookie); only its SHA-256 digest is kept."""

    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    created: Mapped[datetime] = mapped_column(DateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    user: Mapped[User] = relationship()


class Upload(Base):
    """A (possibly partial) upload; becomes a submission once complete and checked."""

    __tablename__ = "uploads"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    track: Mapped[str] = mapped_column(String(50))
    filename: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger)
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    state: Mapped[str] = mapped_column(String(20), default="open")
    created: Mapped[datetime] = mapped_column(DateTime)


class Submission(Base):
    """A checked upload, queued for (or past) scoring."""

    __tablename__ = "submissions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    track: Mapped[str] = mapped_column(String(50))
    filename: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(20), default=SUB_QUEUED)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    disqualified: Mapped[bool] = mapped_column(Boolean, default=False)
    chosen: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(DateTime)
    team: Mapped[Team] = relationship()
    scores: Mapped[list[Score]] = relationship(back_populates="submission")


class Score(Base):
    """One phase's score of a submission, with the scorer and track version that made it.

    A rescore adds new rows and only then marks the old ones not ``current``, so the old
    scores stay visible until the new ones exist.
    """

    __tablename__ = "scores"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    phase: Mapped[str] = mapped_column(String(10))
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    ceiling: Mapped[float | None] = mapped_column(Float, nullable=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    scorer: Mapped[str] = mapped_column(String(100))
    track_version: Mapped[str] = mapped_column(String(20))
    truth_sha256: Mapped[str] = mapped_column(String(64))
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    created: Mapped[datetime] = mapped_column(DateTime)
    submission: Mapped[Submission] = relationship(back_populates="scores")


class Job(Base):
    """One scoring job of the queue: claimed by a worker under a lease that expires."""

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    kind: Mapped[str] = mapped_column(String(10), default="score")
    status: Mapped[str] = mapped_column(String(10), default=QUEUED)
    claim: Mapped[str | None] = mapped_column(String(64), nullable=True)
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime)
    finished: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Release(Base):
    """A track whose final-phase scores the organiser has released."""

    __tablename__ = "releases"
    track: Mapped[str] = mapped_column(String(50), primary_key=True)
    released: Mapped[datetime] = mapped_column(DateTime)


Index("ix_jobs_status", Job.status, Job.id)
Index("ix_submissions_team_track", Submission.team_id, Submission.track, Submission.created)
Index("ix_scores_submission", Score.submission_id, Score.current)
Index("ix_rate_events_key", RateEvent.key, RateEvent.created)
