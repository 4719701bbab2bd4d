"""Problems found in an input (a recording, a submission, a truth file) and the error listing them.

Every stage reports bad input the same way: a list of :class:`Problem` (where, what, how
bad) carried by a :class:`ProblemsError` subclass (``RecordingError``, ``SubmissionError``,
``TruthError``), so a command can print all of them at once and a server can return them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from neurotwin.errors import NeurotwinError, printable

Severity = Literal["error", "warning", "note"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file.

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
        # names come from the input's folder, zip or upload: no escape code reaches a terminal
        return printable(f"{self.where}: {self.message}")


class ProblemsError(NeurotwinError, ValueError):
    """An error carrying every :class:`Problem` found, listed in its message.

    Parameters
    ----------
    problems
        Every problem found; the message lists them (up to ``max_listed``).
    max_listed
        How many problems the message shows before summarising the rest.
    """

    #: Appended to the summary line when problems are left out of the message.
    hint = ""

    def __init__(self, problems: Problem | Iterable[Problem], max_listed: int = 20) -> None:
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        lines = [str(p) for p in self.problems[:max_listed]]
        rest = len(self.problems) - len(lines)
        if rest > 0:
            lines.append(f"... and {rest} more problem(s){self.hint}")
        super().__init__("\n".join(lines))
