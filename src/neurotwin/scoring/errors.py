"""Errors of the scorer: every problem found in a submission or ground truth, listed at once."""

from __future__ import annotations

from neurotwin.problems import Problem, ProblemsError


class SubmissionError(ProblemsError):
    """A submission file cannot be scored; ``problems`` says what is wrong and where."""


class TruthError(ProblemsError):
    """A ground-truth file or folder is not usable for scoring."""


class ProblemList:
    """Collect problems up to a limit, counting the ones past it.

    Parameters
    ----------
    limit
        How many problems to keep; further ones are only counted.
    """

    def __init__(self, limit: int = 100) -> None:
        self.limit = limit
        self.items: list[Problem] = []
        self.dropped = 0

    def add(self, where: str, message: str) -> None:
        """Record one problem (an error)."""
        if len(self.items) < self.limit:
            self.items.append(Problem(where, message))
        else:
            self.dropped += 1

    @staticmethod
    def single(where: str, message: str) -> list[Problem]:
        """Return a one-problem list, for errors found before any other check can run."""
        return [Problem(where, message)]

    def __len__(self) -> int:
        return len(self.items) + self.dropped

    def raise_if_any(self, error: type[ProblemsError] = SubmissionError) -> None:
        """Raise ``error`` listing every problem recorded, if there is any."""
        if len(self):
            problems = list(self.items)
            if self.dropped:
                more = f"{self.dropped} more problem(s) not listed (limit {self.limit})"
                problems.append(Problem("...", more))
            raise error(problems, max_listed=self.limit + 1)


def quote(text: object, limit: int = 40) -> str:
    r"""Quote untrusted text for a message: briefly, with control characters escaped.

    Parameters
    ----------
    text
        Text from a submission (a cell, an id, a parser's message that echoes content).
    limit
        Characters kept; longer text is cut and marked with ``...``.

    Returns
    -------
    str
        A Python-style quoted literal: terminal escape codes, newlines, bidirectional
        overrides and every other non-printable character appear as ``\x..``/``\u....``
        escapes, so a message never drives the terminal or spans lines.
    """
    s = str(text)
    cut = len(s) > limit
    out = repr(s[:limit])
    return out + "..." if cut else out
