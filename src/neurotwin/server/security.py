"""Passwords, API tokens and team join codes, never stored in clear.

Passwords are hashed with scrypt (``n=2**14, r=8, p=1``, 16-byte salt), the stdlib's
memory-hard key derivation. Tokens, join codes and e-mail tokens are 256-bit random values,
so one SHA-256 digest (looked up directly) is enough to keep them secret at rest. Web forms
carry a CSRF token: an HMAC, under the server's secret key, of a per-browser nonce cookie and
the log-in session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from neurotwin.server.errors import ServerSecretError

_N, _R, _P = 2**14, 8, 1
TOKEN_PREFIX = "nt_"


def hash_password(password: str) -> str:
    """Return ``scrypt$n$r$p$salt$hash`` of a password (base64 fields)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a hash from :func:`hash_password` (constant time)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=32,
        )
    except ValueError:
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


def new_secret(prefix: str = TOKEN_PREFIX) -> str:
    """Return a fresh random secret (256 bits, URL-safe), shown to its owner once."""
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """Return the hex SHA-256 of a token or join code: what the database keeps."""
    return hashlib.sha256(secret.encode()).hexdigest()


def load_secret(folder: Path) -> bytes:
    """Return the server's secret key (``secret.key`` in the competition folder), made once.

    The key signs the forms' CSRF tokens; every web process of a competition reads the same
    file. It is created with mode 0600 and never served.
    """
    path = folder / "secret.key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes()
        if len(key) < 32:
            raise ServerSecretError(
                f"{path} holds {len(key)} bytes; delete it to make a new key"
            ) from None
        return key
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


def csrf_token(secret: bytes, nonce: str, session_token: str | None) -> str:
    """Return the CSRF token of a form: HMAC-SHA256 of the browser's nonce and session.

    Bound to the ``neurotwin_csrf`` cookie's nonce and to the log-in session (when there is
    one), so a page rendered for one session does not validate a form for another.
    """
    message = f"{nonce}:{digest(session_token) if session_token else ''}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def csrf_valid(secret: bytes, nonce: str | None, session_token: str | None, given: str) -> bool:
    """Whether a submitted form's CSRF token matches the browser's nonce and session."""
    if not nonce or not given:
        return False
    return hmac.compare_digest(csrf_token(secret, nonce, session_token), given)
