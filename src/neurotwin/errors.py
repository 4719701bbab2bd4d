"""Exceptions shared by every part of neurotwin."""

from __future__ import annotations


class NeurotwinError(Exception):
    """Base class of the errors neurotwin raises on bad input.

    The command line prints these as one clear message instead of a traceback.
    """
