"""The one error class of neural regularisation."""

from __future__ import annotations

from neurotwin.errors import NeurotwinError


class NeuroregError(NeurotwinError):
    """Bad input to neural regularisation: a wrong size, a stale cache, a bad setting."""
