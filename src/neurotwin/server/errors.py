"""Errors of the competition server."""

from __future__ import annotations

from neurotwin.errors import NeurotwinError


class CompetitionError(NeurotwinError):
    """A competition folder or its ``competition.json`` is unusable."""


class RequestError(NeurotwinError):
    """A request the server refuses; ``status`` is the HTTP status it answers with.

    Parameters
    ----------
    status
        The HTTP status code (400, 401, 403, 404, 409, 413, 429).
    message
        One line that says what is wrong.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ServerSecretError(CompetitionError):
    """The competition's secret key file is unusable."""


class LockUnavailableError(NeurotwinError):
    """No file lock that the per-upload lock can use exists on this platform."""
