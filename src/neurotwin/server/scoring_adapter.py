"""The server's one seam to the scorer: :func:`check` an upload, :func:`score` it later.

The web application calls :func:`check` before queueing an upload (format, file names, size,
zip safety, alignment to the hidden truth: everything but the metrics); the worker calls
:func:`score`. Both go through :mod:`neurotwin.scoring` exactly as ``neurotwin score`` does,
so a laptop and the server give the same numbers. When the scorer gains its
``check_submission`` / ``score_aligned`` pair, only this module changes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neurotwin import __version__
from neurotwin.scoring.errors import ProblemList, SubmissionError
from neurotwin.scoring.scorer import resolve_truth
from neurotwin.scoring.scorer import score as _score
from neurotwin.scoring.submission import (
    StaticPredictions,
    VideoPredictions,
    align_static,
    align_video,
    max_upload_bytes,
    open_upload,
    read_static_csv,
    read_video_parquet,
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
    """

    phase: str
    value: float | None
    ceiling: float | None
    metrics: dict[str, Any]


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


def check(
    track: str,
    upload: str | os.PathLike[str],
    truth: str | os.PathLike[str] | Mapping[str, Path],
) -> None:
    """Check an upload as the scorer will read it, without computing any metric.

    Parameters
    ----------
    track
        The track identifier.
    upload
        The uploaded file: one phase's file or a zip of the track's files.
    truth
        The track's ground-truth file (its trial and neuron ids), or one per phase.

    Raises
    ------
    SubmissionError
        Listing every problem: unsafe zip (absolute or ``..`` paths, links, nested
        archives, more bytes than the track can need), wrong file names or track, bad
        format, ids that do not match the truth.
    """
    t = get_track(track)
    per_phase = truth if isinstance(truth, Mapping) else dict.fromkeys(PHASES, Path(truth))
    truths = {p: load_truth_cached(track, per_phase[p]) for p in PHASES}
    largest = max(max_upload_bytes(truths[p], t) for p in PHASES)
    files = open_upload(upload, t, largest)
    problems = ProblemList()
    for phase, (name, data) in files.items():
        tier = t.tier(phase)
        truth_obj = truths[phase]
        try:
            if t.kind == "static":
                pred: StaticPredictions | VideoPredictions = read_static_csv(data, name)
                assert isinstance(pred, StaticPredictions)
                align_static(pred, truth_obj.mice[0], tier, name, problems)
            else:
                pred = read_video_parquet(data, name)
                assert isinstance(pred, VideoPredictions)
                align_video(pred, truth_obj, tier, name, problems)
        except SubmissionError as exc:
            for p in exc.problems:
                problems.add(p.where, p.message)
    problems.raise_if_any(SubmissionError)


def score(
    track: str, upload: str | os.PathLike[str], truth: dict[str, Path]
) -> dict[str, PhaseResult]:
    """Score an upload on every phase it holds.

    Parameters
    ----------
    track
        The track identifier.
    upload
        The uploaded file.
    truth
        Per phase, the ground-truth file (the same file for both phases is scored once).

    Returns
    -------
    dict
        Per phase present in the upload, its :class:`PhaseResult`.

    Raises
    ------
    SubmissionError
        When the upload cannot be scored.
    """
    out: dict[str, PhaseResult] = {}
    reports: dict[Path, Any] = {}
    for phase, path in truth.items():
        if path not in reports:
            reports[path] = _score(track, load_truth_cached(track, path), upload)
        report = reports[path]
        if phase not in report.phases:
            continue
        metrics = report.to_dict()["phases"][phase]
        ranking = metrics["metrics"][report.ranking_metric]
        out[phase] = PhaseResult(phase, ranking["value"], ranking["ceiling"], metrics)
    return out
