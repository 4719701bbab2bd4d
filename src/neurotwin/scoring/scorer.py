"""Score a submission against a track's ground truth, in one step or two.

A competition server checks an upload at once (:func:`check_submission`: cheap, every
problem listed) and scores the aligned predictions later in a worker
(:func:`score_aligned`); :func:`score` does both.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from neurotwin.errors import NeurotwinError
from neurotwin.problems import Problem
from neurotwin.scoring.aligned import AlignedSubmission
from neurotwin.scoring.errors import ProblemList, SubmissionError, TruthError
from neurotwin.scoring.phase import score_phase
from neurotwin.scoring.predictions import StaticPredictions, VideoPredictions, check_in_memory
from neurotwin.scoring.scores import MetricScore, PhaseScore, ScoreReport
from neurotwin.scoring.simulator_truth import TRUTH_SUFFIX, recording_of_truth_folder
from neurotwin.scoring.streamed import ScannedVideo
from neurotwin.scoring.tracks import PHASES, Track, get_track
from neurotwin.scoring.truth import Truth, make_truth
from neurotwin.scoring.truth_file import load_truth
from neurotwin.scoring.upload import UploadFile, max_upload_bytes, open_upload_files

__all__ = [
    "AlignedSubmission",
    "MetricScore",
    "PhaseScore",
    "ScoreReport",
    "check_submission",
    "resolve_truth",
    "score",
    "score_aligned",
]


TruthSource = Truth | str | os.PathLike[str] | Sequence[str | os.PathLike[str]]
SubmissionSource = str | os.PathLike[str] | Mapping[str, StaticPredictions | VideoPredictions]


def resolve_truth(track: Track, truth: TruthSource, *, per_frame: bool = False) -> Truth:
    """Return the ground truth of ``track`` from a file, recording folder(s) or object.

    Parameters
    ----------
    track
        The track.
    truth
        A :class:`Truth`, a ground-truth file, a recording folder or zip whose scored tiers
        hold their responses, or a list of recordings (video tracks: one per mouse).
    per_frame
        Video recordings: the per-frame normalisation of the 2023 compatibility mode.

    Returns
    -------
    Truth
        The ground truth, checked to be of ``track`` and its version.
    """
    if isinstance(truth, str | os.PathLike) and Path(truth).name.endswith(TRUTH_SUFFIX):
        truth = recording_of_truth_folder(Path(truth))
    if isinstance(truth, Truth):
        resolved = truth
    elif (
        isinstance(truth, str | os.PathLike)
        and Path(truth).is_file()
        and (str(truth).endswith(".npz"))
    ):
        resolved = load_truth(truth)
    else:
        paths = [truth] if isinstance(truth, str | os.PathLike) else list(truth)
        resolved = make_truth(track, paths, per_frame=per_frame)
    if resolved.track != track.identifier:
        raise TruthError(
            [
                Problem(
                    str(truth), f"is ground truth of track {resolved.track}, not {track.identifier}"
                )
            ]
        )
    if resolved.track_version != track.version:
        raise TruthError(
            [
                Problem(
                    str(truth),
                    f"was cut for {track.identifier} version {resolved.track_version}; "
                    f"this neurotwin scores version {track.version}: cut it again",
                )
            ]
        )
    return resolved


def check_submission(
    track: str | Track,
    submission: SubmissionSource,
    truth: TruthSource,
    *,
    per_frame: bool = False,
    max_problems: int = 100,
) -> AlignedSubmission:
    """Read, check and align a submission without scoring it (the server's upload step).

    Parameters
    ----------
    track
        The track or its identifier.
    submission
        A submission file (its name tells the phase), a folder or zip holding the track's
        files, or ``{phase: predictions}`` already in memory.
    truth
        See :func:`resolve_truth`.
    per_frame
        See :func:`resolve_truth`.
    max_problems
        How many problems of a bad submission are listed.

    Returns
    -------
    AlignedSubmission
        The predictions of every phase that the submission holds and the ground truth has;
        a phase missing from either is listed in :attr:`AlignedSubmission.notes`.

    Raises
    ------
    SubmissionError
        Listing every problem of the submission (up to ``max_problems``).
    TruthError
        When the ground truth is unusable or of another track.
    """
    track = get_track(track)
    truth = resolve_truth(track, truth, per_frame=per_frame)
    fmt = track.format
    problems = ProblemList(max_problems)
    notes = list(truth.notes)
    scorable = {p for p in PHASES if all(track.tier(p) in mouse.tiers for mouse in truth.mice)}
    parsed: dict[str, tuple[str, StaticPredictions | VideoPredictions | ScannedVideo]] = {}
    if isinstance(submission, Mapping):
        for given, held in submission.items():
            parsed[given] = (f"{given} predictions", held)
            check_in_memory(f"{given} predictions", held, problems)
    else:
        files = open_upload_files(submission, track, max_upload_bytes(truth, track))
        todo = [(phase, data.name, data) for phase, data in files.items() if phase in scorable]

        def read(
            item: tuple[str, str, UploadFile],
        ) -> tuple[StaticPredictions | VideoPredictions | ScannedVideo | None, ProblemList]:
            phase, name, data = item
            found = ProblemList(max_problems)
            try:
                return fmt.read(data, name, truth, track.tier(phase), found), found
            except SubmissionError as exc:
                for p in exc.problems:
                    found.add(p.where, p.message)
                return None, found

        # the phases' files are read side by side (the parquet reader releases the GIL);
        # their problems are listed in phase order, as if read one after the other
        with ThreadPoolExecutor(max_workers=max(1, min(len(todo), os.cpu_count() or 1))) as pool:
            results = list(pool.map(read, todo))
        for (phase, name, _), (got, found) in zip(todo, results, strict=True):
            for p in found.items:
                problems.add(p.where, p.message)
            problems.dropped += found.dropped
            if got is not None:
                parsed[phase] = (name, got)
    for phase in PHASES:
        tier = track.tier(phase)
        if phase not in scorable:
            explained = any(f"tier {tier!r}" in n for n in truth.notes)
            if not explained and (phase in parsed or not isinstance(submission, Mapping)):
                notes.append(
                    f"phase {phase} not scored: the ground truth has no tier {tier!r} "
                    "with responses"
                )
            parsed.pop(phase, None)
        elif phase not in parsed:
            what = (
                track.submission_files[phase]
                if not isinstance(submission, Mapping)
                else "predictions"
            )
            notes.append(f"phase {phase} not scored: the submission holds no {what}")
    aligned: dict[str, Mapping[str, np.ndarray]] = {}
    for phase in PHASES:
        if phase not in parsed:
            continue
        name, pred = parsed[phase]
        if isinstance(submission, Mapping) and not isinstance(pred, fmt.predictions_type):
            problems.add(name, f"track {track.identifier} takes {fmt.release} predictions")
            continue
        per_mouse = fmt.align(pred, truth, track.tier(phase), name, problems)
        if per_mouse is not None:
            aligned[phase] = per_mouse
    problems.raise_if_any(SubmissionError)
    if not aligned:
        raise SubmissionError(
            [
                Problem(
                    str(submission) if not isinstance(submission, Mapping) else "predictions",
                    "nothing to score: " + "; ".join(notes),
                )
            ]
        )
    return AlignedSubmission(track.identifier, track.version, aligned, notes)


def score_aligned(
    track: str | Track, aligned: AlignedSubmission, truth: TruthSource, *, per_frame: bool = False
) -> ScoreReport:
    """Score a checked submission (the server's worker step).

    Parameters
    ----------
    track
        The track or its identifier.
    aligned
        What :func:`check_submission` returned for this track and ground truth.
    truth
        See :func:`resolve_truth`.
    per_frame
        See :func:`resolve_truth`.

    Returns
    -------
    ScoreReport
        The scores of every phase of ``aligned``.

    Raises
    ------
    NeurotwinError
        When ``aligned`` was checked against another track or version.
    """
    track = get_track(track)
    if (aligned.track, aligned.track_version) != (track.identifier, track.version):
        raise NeurotwinError(
            f"the submission was checked for track {aligned.track} v{aligned.track_version}, "
            f"not {track.identifier} v{track.version}: check it again"
        )
    truth = resolve_truth(track, truth, per_frame=per_frame)
    # the phases are scored side by side (numpy releases the GIL in the metrics' array
    # work); each phase's arithmetic is that of scoring it alone, so the scores are too
    phases = list(aligned.phases.items())
    with ThreadPoolExecutor(max_workers=max(1, min(len(phases), os.cpu_count() or 1))) as pool:
        scored = list(pool.map(lambda item: score_phase(track, truth, *item), phases))
    return ScoreReport(
        track=track.identifier,
        track_version=track.version,
        ranking_metric=track.ranking_metric,
        phases={phase: result for (phase, _), result in zip(phases, scored, strict=True)},
        notes=list(aligned.notes),
    )


def score(
    track: str | Track,
    truth: TruthSource,
    submission: SubmissionSource,
    *,
    per_frame: bool = False,
    max_problems: int = 100,
) -> ScoreReport:
    """Score a submission on a track: :func:`check_submission`, then :func:`score_aligned`.

    Parameters
    ----------
    track
        The track or its identifier.
    truth
        See :func:`resolve_truth`.
    submission
        A submission file (its name tells the phase), a folder or zip holding the track's
        files, or ``{phase: predictions}`` already in memory.
    per_frame
        See :func:`resolve_truth`.
    max_problems
        How many problems of a bad submission are listed.

    Returns
    -------
    ScoreReport
        The scores of every phase that the submission holds and the ground truth has;
        a phase missing from either is listed in :attr:`ScoreReport.notes`.

    Raises
    ------
    SubmissionError
        Listing every problem of the submission (up to ``max_problems``).
    TruthError
        When the ground truth is unusable or of another track.
    """
    track = get_track(track)
    resolved = resolve_truth(track, truth, per_frame=per_frame)
    aligned = check_submission(track, submission, resolved, max_problems=max_problems)
    return score_aligned(track, aligned, resolved)
