"""Errors of the imaging package (bad movies, bad settings, bad result folders)."""

from __future__ import annotations

from neurotwin.errors import NeurotwinError


class MovieError(NeurotwinError):
    """A movie that cannot be read or cannot be denoised (names the file and the problem)."""


class CompressedError(NeurotwinError):
    """A compressed result folder that is missing, unfinished, corrupt or not ours."""
