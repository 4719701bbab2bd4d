"""The server's one seam to the scorer: :func:`check` an upload, :func:`score` it later.

The web application calls :func:`check` before queueing an upload; it runs
:func:`neurotwin.scoring.check_submission` (format, file names, size, zip safety, alignment
to the hidden truth: everything but the metrics) and the request answers at once with every
problem found. The worker calls :func:`score`, which runs
:func:`neurotwin.scoring.score_aligned` on the aligned predictions. A video submission
is never held in memory by either step: it is checked by batches of rows and scored as its
trials stream from the file (:mod:`neurotwin.scoring.streamed`). Both go through
:mod:`neurotwin.scoring` exactly as ``neurotwin score`` does, so a laptop and the server give
the same numbers; each score records the scorer and the track version that produced it.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neurotwin import __version__
from neurotwin.data.problems import Problem
from neurotwin.errors import NeurotwinError
from neurotwin.scoring.errors import SubmissionError
from neurotwin.scoring.scorer import (
    AlignedSubmission,
    check_submission,
    resolve_truth,
    score_aligned,
)
from neurotwin.scoring.tracks import PHASES, get_track
from neurotwin.scoring.truth import Truth

#: Recorded with every score: which scorer produced it.
SCORER = f"neurotwin {__version__}"

_TRUTH_CACHE: dict[tuple[str, str, float], Truth] = {}
_DIGESTS: dict[tuple[str, float], str] = {}


@dataclass(frozen=True)
class PhaseResult:
    """One phase's score, as the leaderboard stores it.

    Attributes
    ----------
    phase
        ``"live"`` or ``"final"``.
    value
        The ranking metric (None when not finite).
    ceiling
        The ranking metric's ceiling, or None.
    metrics
        Every metric of the phase as JSON-ready data (value, ceiling, per mouse, per class).
    track_version
        The version of the track the scorer scored (from its report).
    scorer
        Which scorer produced the value (:data:`SCORER`).
    """

    phase: str
    value: float | None
    ceiling: float | None
    metrics: dict[str, Any]
    track_version: str
    scorer: str = SCORER


def load_truth_cached(track: str, path: str | os.PathLike[str]) -> Truth:
    """Return a track's ground truth from a file, read again only when the file changes."""
    p = Path(path)
    key = (track, str(p), p.stat().st_mtime)
    if key not in _TRUTH_CACHE:
        _TRUTH_CACHE.clear()
        _TRUTH_CACHE[key] = resolve_truth(get_track(track), p)
    return _TRUTH_CACHE[key]


def truth_sha256(path: str | os.PathLike[str]) -> str:
    """Return the SHA-256 of a truth file (recorded with each score), cached until it changes."""
    p = Path(path)
    key = (str(p), p.stat().st_mtime)
    if key not in _DIGESTS:
        _DIGESTS[key] = _sha256(p)
    return _DIGESTS[key]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


#: The start of the scorer's message for a submission holding no phase of a truth file.
_NOTHING = "nothing to score"


def _by_truth(truth: str | os.PathLike[str] | Mapping[str, Path]) -> dict[Path, list[str]]:
    """Group the phases by their truth file (one file usually serves both phases)."""
    per_phase = truth if isinstance(truth, Mapping) else dict.fromkeys(PHASES, Path(truth))
    groups: dict[Path, list[str]] = {}
    for phase in PHASES:
        groups.setdefault(Path(per_phase[phase]), []).append(phase)
    return groups


def check(
    track: str,
    upload: str | os.PathLike[str],
    truth: str | os.PathLike[str] | Mapping[str, Path],
) -> dict[Path, AlignedSubmission]:
    """Check an upload as the scorer will read it, without computing any metric.

    Parameters
    ----------
    track
        The track identifier.
    upload
        The uploaded file: one phase's file or a zip of the track's files.
    truth
        The track's ground-truth file (its trial and neuron ids), or one per phase.

    Returns
    -------
    dict
        By truth file, what :func:`neurotwin.scoring.check_submission` returned, keeping only
        the phases that file serves (at least one phase in all).

    Raises
    ------
    SubmissionError
        Listing every problem: unsafe zip (absolute or ``..`` paths, links, nested
        archives, more bytes than the track can need), wrong file names or track, bad
        format, ids that do not match the truth, nothing to score.
    """
    out: dict[Path, AlignedSubmission] = {}
    errors: list[SubmissionError] = []
    for path, phases in _by_truth(truth).items():
        try:
            aligned = check_submission(track, upload, load_truth_cached(track, path))
        except SubmissionError as exc:
            errors.append(exc)
            continue
        kept = {p: a for p, a in aligned.phases.items() if p in phases}
        if kept:
            out[path] = AlignedSubmission(aligned.track, aligned.track_version, kept, aligned.notes)
    # With one truth file per phase, a file holding only one phase has "nothing to score"
    # against the other phase's truth: that alone is no problem when another phase checked.
    real = [e for e in errors if not (out and all(_NOTHING in p.message for p in e.problems))]
    if real:
        raise real[0]
    if not out:
        name = Path(upload).name
        raise SubmissionError([Problem(name, f"{_NOTHING}: it holds no phase of track {track}")])
    return out


def _check_in_child(track: str, upload: str, truth: str | Mapping[str, Path]) -> str | None:
    """Run :func:`check` and return its error message (None when the upload is fine)."""
    try:
        check(track, upload, truth)
    except NeurotwinError as exc:
        return str(exc)
    return None


def check_isolated(
    track: str,
    upload: str | os.PathLike[str],
    truth: str | os.PathLike[str] | Mapping[str, Path],
) -> None:
    """Run :func:`check` in a separate process, so that its memory is not the web process's.

    A video submission is checked by streaming (the ground truth and a fixed working set),
    a 2022 CSV is parsed whole; either way a large upload is checked in a child process, so
    that the ground truth it loads and anything it allocates are not the web process's and
    an out-of-memory kill ends the check without taking the web application with it.

    Raises
    ------
    NeurotwinError
        With :func:`check`'s message, or saying that the check's process died.
    """
    truth_arg: str | Mapping[str, Path] = truth if isinstance(truth, Mapping) else str(truth)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        try:
            message = pool.submit(_check_in_child, track, str(upload), truth_arg).result()
        except BrokenProcessPool as exc:
            raise NeurotwinError(
                f"{Path(upload).name}: the process checking it died (out of memory?); "
                "the server cannot check a submission this large"
            ) from exc
    if message is not None:
        raise NeurotwinError(message)


def score(
    track: str, upload: str | os.PathLike[str], truth: Mapping[str, Path]
) -> dict[str, PhaseResult]:
    """Check an upload again and score it on every phase it holds (the worker's step).

    Parameters
    ----------
    track
        The track identifier.
    upload
        The uploaded file (checked when it was queued).
    truth
        Per phase, the ground-truth file (the same file for both phases is scored once).

    Returns
    -------
    dict
        Per phase present in the upload, its :class:`PhaseResult`.

    Raises
    ------
    SubmissionError
        When the upload cannot be scored (for instance after a truth change).
    """
    # The worker aligns again instead of loading an AlignedSubmission saved by the request
    # (scoring.aligned can save one): the alignment depends on the truth file, and a rescore
    # after a truth change must align to the new truth, never to the one of the upload day.
    checked = check(track, upload, truth)
    out: dict[str, PhaseResult] = {}
    for path, aligned in checked.items():
        report = score_aligned(track, aligned, load_truth_cached(track, path))
        data = report.to_dict()["phases"]
        for phase in aligned.phases:
            metrics = data[phase]
            ranking = metrics["metrics"][report.ranking_metric]
            out[phase] = PhaseResult(
                phase, ranking["value"], ranking["ceiling"], metrics, report.track_version
            )
    return out
