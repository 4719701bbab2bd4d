"""Participants: registration, teams, log-in, API tokens, e-mail verification, password reset.

Verification and reset links carry one-use random tokens, kept only as SHA-256 digests and
valid for :data:`TOKEN_HOURS` hours; a password reset revokes every API token of the account.
"""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from neurotwin.server import mail
from neurotwin.server.config import Competition
from neurotwin.server.db import utcnow
from neurotwin.server.errors import RequestError
from neurotwin.server.models import AccountToken, Team, Token, User
from neurotwin.server.security import digest, hash_password, new_secret, verify_password

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}$")
#: Starts with a letter or digit, so that no exported CSV cell reads as a spreadsheet formula.
_TEAM = re.compile(r"^\w[\w .+-]{1,99}$")
MIN_PASSWORD = 8
#: Hours an e-mail token stays valid, per purpose.
TOKEN_HOURS = {"verify": 48.0, "reset": 1.0}


def _check_fields(email: str, password: str, team: str) -> None:
    if not _EMAIL.match(email):
        raise RequestError(400, f"{email!r} is not an e-mail address")
    if len(password) < MIN_PASSWORD:
        raise RequestError(400, f"the password needs at least {MIN_PASSWORD} characters")
    if not _TEAM.match(team):
        raise RequestError(
            400,
            "a team name has 2-100 letters, digits, spaces or the characters . + - _ "
            "and starts with a letter or digit",
        )


def issue_token(session: Session, user: User, label: str = "") -> str:
    """Create an API token for ``user`` in the session and return it (shown once)."""
    token = new_secret()
    session.add(Token(user_id=user.id, digest=digest(token), label=label, created=utcnow()))
    return token


def register(
    session: Session,
    email: str,
    password: str,
    team: str,
    join_code: str | None = None,
    *,
    organiser: bool = False,
) -> tuple[User, str, str | None]:
    """Create an account, joining or founding a team, inside the caller's transaction.

    Parameters
    ----------
    session
        The session (the caller commits).
    email, password
        The account's log-in.
    team
        The team to join (with ``join_code``) or found (without).
    join_code
        The code the team's founder received.
    organiser
        Make the account an organiser.

    Returns
    -------
    tuple
        The user, a first API token, and the new team's join code (None when joining).

    Raises
    ------
    RequestError
        400 for a malformed field, 409 for a taken e-mail or team name, 403 for a wrong
        join code.
    """
    email = email.strip().lower()
    team = team.strip()
    _check_fields(email, password, team)
    if session.scalar(select(User).where(User.email == email)) is not None:
        raise RequestError(409, f"{email} is already registered; log in instead")
    existing = session.scalar(select(Team).where(Team.name == team))
    code: str | None = None
    if existing is None:
        if join_code:
            raise RequestError(404, f"there is no team {team!r} to join")
        code = new_secret("team_")
        existing = Team(name=team, join_code_hash=digest(code), created=utcnow())
        session.add(existing)
        session.flush()
    elif not join_code:
        raise RequestError(409, f"team {team!r} exists; ask its founder for the join code")
    elif digest(join_code) != existing.join_code_hash:
        raise RequestError(403, f"wrong join code for team {team!r}")
    user = User(
        email=email,
        password_hash=hash_password(password),
        team_id=existing.id,
        is_organiser=organiser,
        created=utcnow(),
    )
    session.add(user)
    session.flush()
    return user, issue_token(session, user, "registration"), code


def login(session: Session, email: str, password: str) -> str:
    """Return a new token for a correct e-mail and password; 401 otherwise."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or not verify_password(password, user.password_hash):
        raise RequestError(401, "wrong e-mail or password")
    return issue_token(session, user, "login")


def authenticate(session: Session, token: str | None) -> User | None:
    """Return the user of a valid, unrevoked token, or None."""
    if not token:
        return None
    row = session.scalar(select(Token).where(Token.digest == digest(token), ~Token.revoked))
    return None if row is None else row.user


def revoke(session: Session, token: str | None) -> bool:
    """Revoke a token (log-out); return whether one was revoked. The caller commits."""
    if not token:
        return False
    row = session.scalar(select(Token).where(Token.digest == digest(token), ~Token.revoked))
    if row is None:
        return False
    row.revoked = True
    return True


def _new_account_token(session: Session, user: User, purpose: str) -> str:
    token = new_secret(f"{purpose}_")
    now = utcnow()
    session.add(
        AccountToken(
            user_id=user.id,
            purpose=purpose,
            digest=digest(token),
            created=now,
            expires=now + timedelta(hours=TOKEN_HOURS[purpose]),
            used=False,
        )
    )
    return token


def send_verification(
    session: Session, competition: Competition, user: User, base_url: str
) -> None:
    """Send ``user`` a link that verifies their e-mail address (caller commits)."""
    token = _new_account_token(session, user, "verify")
    mail.send(
        competition,
        user.email,
        "verify your e-mail address",
        f"Open this link to verify your e-mail address (valid {TOKEN_HOURS['verify']:g} "
        f"hours):\n\n{base_url.rstrip('/')}/verify?token={token}\n\nor send the token "
        f"to POST /api/v1/verify: {token}\n",
    )


def send_reset(session: Session, competition: Competition, email: str, base_url: str) -> None:
    """Send a password-reset link to ``email`` if it has an account (silently not otherwise).

    The caller answers the same either way, so the form does not reveal who is registered.
    """
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        return
    token = _new_account_token(session, user, "reset")
    mail.send(
        competition,
        user.email,
        "reset your password",
        f"Open this link to choose a new password (valid {TOKEN_HOURS['reset']:g} hour):"
        f"\n\n{base_url.rstrip('/')}/reset?token={token}\n\nor send the token with the new "
        f"password to POST /api/v1/password/reset: {token}\n\nIf you did not ask for "
        "this, ignore this message.\n",
    )


def _use_token(session: Session, token: str, purpose: str) -> User:
    row = session.scalar(
        select(AccountToken)
        .where(AccountToken.digest == digest(token.strip()), AccountToken.purpose == purpose)
        .with_for_update()
    )
    what = "verification" if purpose == "verify" else "password-reset"
    if row is None or row.used:
        raise RequestError(400, f"this {what} link is unknown or was used already")
    if row.expires <= utcnow():
        raise RequestError(400, f"this {what} link expired; ask for a new one")
    row.used = True
    return row.user


def verify_email(session: Session, token: str) -> User:
    """Mark the e-mail address of a verification token's account verified (caller commits).

    Raises
    ------
    RequestError
        400 for an unknown, used or expired token.
    """
    user = _use_token(session, token, "verify")
    user.email_verified = True
    return user


def reset_password(session: Session, token: str, password: str) -> User:
    """Set a new password with a reset token; revoke every API token (caller commits).

    Raises
    ------
    RequestError
        400 for a short password or an unknown, used or expired token.
    """
    if len(password) < MIN_PASSWORD:
        raise RequestError(400, f"the password needs at least {MIN_PASSWORD} characters")
    user = _use_token(session, token, "reset")
    user.password_hash = hash_password(password)
    user.email_verified = True  # the reset link reached the mailbox
    session.execute(update(Token).where(Token.user_id == user.id).values(revoked=True))
    return user
