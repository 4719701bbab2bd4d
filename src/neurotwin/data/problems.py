"""The error of a recording that does not follow the layout (see :mod:`neurotwin.problems`)."""

from __future__ import annotations

from neurotwin.problems import Problem, ProblemsError, Severity


class RecordingError(ProblemsError):
    """A recording on disk does not follow the SENSORIUM layout."""

    hint = "; run `neurotwin validate` to list all"


__all__ = ["Problem", "ProblemsError", "RecordingError", "Severity"]
