"""Problems found in a recording, and the error that reports them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from neurotwin.errors import NeurotwinError

Severity = Literal["error", "warning", "note"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a recording.

    Attributes
    ----------
    where
        The file or folder, as a path a user can open (``.../data/responses/17.npy``).
    message
        What is wrong and what was expected.
    severity
        ``"error"`` when the recording cannot be used as it is, ``"warning"`` when it can
        but something looks wrong, ``"note"`` for a fact worth knowing (withheld responses).
    """

    where: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class RecordingError(NeurotwinError, ValueError):
    """A recording on disk does not follow the SENSORIUM layout.

    Parameters
    ----------
    problems
        Every problem found; the message lists them (up to ``max_listed``).
    max_listed
        How many problems the message shows before summarising the rest.
    """

    def __init__(self, problems: Problem | Iterable[Problem], max_listed: int = 20) -> None:
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        lines = [str(p) for p in self.problems[:max_listed]]
        rest = len(self.problems) - len(lines)
        if rest > 0:
            lines.append(f"... and {rest} more problem(s); run `neurotwin validate` to list all")
        super().__init__("\n".join(lines) if len(lines) > 1 else (lines[0] if lines else ""))
