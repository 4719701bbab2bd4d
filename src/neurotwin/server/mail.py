"""E-mail to participants: by SMTP when configured, otherwise into the competition's outbox.

Without an ``smtp`` setting each message is written as an ``.eml`` file to ``outbox/`` in
the competition folder (and its path logged), where the organiser can read it and pass the
link on. The outbox holds working verification and reset links: keep it as private as the
database.
"""

from __future__ import annotations

import logging
import os
import secrets
import smtplib
from email.message import EmailMessage
from pathlib import Path

from neurotwin.atomic import write_bytes
from neurotwin.server.config import Competition
from neurotwin.server.db import utcnow

log = logging.getLogger(__name__)


def outbox(competition: Competition) -> Path:
    """Return the folder that receives the messages when no SMTP server is configured."""
    return competition.folder / "outbox"


def send(competition: Competition, to: str, subject: str, body: str) -> Path | None:
    """Send one plain-text message.

    Parameters
    ----------
    competition
        Its ``settings.smtp`` (host, port, from, starttls, user, password_env) or outbox.
    to, subject, body
        The message.

    Returns
    -------
    pathlib.Path or None
        The ``.eml`` file written to the outbox, or None when sent by SMTP.
    """
    smtp = competition.settings.smtp
    msg = EmailMessage()
    msg["To"] = to
    msg["Subject"] = f"[{competition.title}] {subject}"
    msg["From"] = str((smtp or {}).get("from", "neurotwin@localhost"))
    # plain 7-bit text keeps the links whole and readable in the outbox's files
    msg.set_content(body, cte="7bit" if body.isascii() else "quoted-printable")
    if smtp:
        with smtplib.SMTP(str(smtp["host"]), int(smtp.get("port", 25)), timeout=30) as server:
            if smtp.get("starttls"):
                server.starttls()
            if smtp.get("user"):
                server.login(str(smtp["user"]), os.environ.get(str(smtp.get("password_env")), ""))
            server.send_message(msg)
        return None
    folder = outbox(competition)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{utcnow():%Y%m%dT%H%M%S.%f}-{secrets.token_hex(4)}.eml"
    write_bytes(path, bytes(msg))
    log.warning("no SMTP server configured: the message to %s is in %s", to, path)
    return path
