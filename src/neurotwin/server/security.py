"""Passwords, API tokens and team join codes, never stored in clear.

Passwords are hashed with scrypt (``n=2**14, r=8, p=1``, 16-byte salt), the stdlib's
memory-hard key derivation. Tokens and join codes are 256-bit random values, so one SHA-256
digest (looked up directly) is enough to keep them secret at rest.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

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
