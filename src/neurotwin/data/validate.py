"""Check a recording thoroughly and list every problem, instead of stopping at the first."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from neurotwin.data.problems import RecordingError
from neurotwin.data.recording import Recording, first_nan_frame, recording_for
from neurotwin.data.source import open_source
from neurotwin.problems import Problem
from neurotwin.progress import progress_bar


def check_trial(
    recording: Recording, index: int, fields: tuple[str, ...] | None = None
) -> tuple[dict[str, np.ndarray], list[Problem]]:
    """Load every field of one trial and check its shape and values.

    Static trials must be finite; video trials may end in NaN frames (padding) but hold no
    NaN before their true length and no infinity anywhere, and all their fields must share
    one true length (withheld, all-zero responses excepted).

    Parameters
    ----------
    recording
        An open recording.
    index
        The file index of the trial.
    fields
        The fields to check (default: every field of the recording).

    Returns
    -------
    arrays : dict
        The fields that could be loaded, by name.
    problems : list of Problem
        Everything wrong with this trial.
    """
    arrays: dict[str, np.ndarray] = {}
    problems: list[Problem] = []
    lengths: dict[str, int] = {}
    for field in recording.fields if fields is None else fields:
        rel = f"data/{field}/{index}.npy"
        where = recording.source.where(rel)
        try:
            arr = recording.load(field, index)
        except RecordingError as exc:
            problems.extend(exc.problems)
            continue
        if not (np.issubdtype(arr.dtype, np.number) and not np.issubdtype(arr.dtype, np.bool_)):
            problems.append(Problem(where, f"has dtype {arr.dtype}, expected numbers"))
            continue
        arrays[field] = arr
        if not np.issubdtype(arr.dtype, np.floating):
            continue
        if not recording.layout.has_frames:
            if not np.isfinite(arr).all():
                problems.append(Problem(where, "holds NaN or infinite values"))
                continue
        else:
            if np.isinf(arr).any():
                problems.append(Problem(where, "holds infinite values"))
                continue
            length = first_nan_frame(arr)
            tail_ok = np.isnan(arr[..., length:]).all()
            if not tail_ok:
                problems.append(
                    Problem(
                        where,
                        f"has NaN at frame {length} but not in every later frame; NaN may only "
                        "pad the end of a trial",
                    )
                )
                continue
            if not (field == "responses" and length == arr.shape[-1] and not arr.any()):
                lengths[field] = length
        if field == "responses":
            low = np.nanmin(arr) if arr.size else 0.0
            if low < 0:
                problems.append(
                    Problem(where, f"holds negative responses (min {low:.4g})", "warning")
                )
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{k} {v}" for k, v in lengths.items())
        problems.append(
            Problem(
                recording.source.where(f"data/*/{index}.npy"),
                f"fields disagree on the trial's true length (first NaN frame): {shown}",
            )
        )
    return arrays, problems


def _statistics_problems(recording: Recording) -> Iterator[Problem]:
    for field in recording.fields:
        if field not in recording.statistics_fields:
            yield Problem(
                recording.source.where(f"meta/statistics/{field}/all"),
                "statistics are missing; this field cannot be normalised",
                "warning",
            )
            continue
        try:
            stats = recording.statistics(field, check=False)
        except RecordingError as exc:
            yield from exc.problems
            continue
        yield from recording.statistics_problems(field, stats)


#: ``validate`` stops reading trials once this many problems are found.
MAX_PROBLEMS = 1000


def validate_recording(
    path: str | os.PathLike[str],
    *,
    max_problems: int = MAX_PROBLEMS,
    progress: bool = False,
) -> list[Problem]:
    """Check a recording and return every problem found.

    Every stage runs, whatever the earlier ones found: structure (folders, file
    numbering, metadata lengths), statistics, and every trial file that exists (read and
    checked for shape, dtype and values); problems found twice are listed once.

    Parameters
    ----------
    path
        A recording folder or zip.
    max_problems
        Stop reading trials once this many problems are found (a note says so).
    progress
        Show a progress bar over the trials.

    Returns
    -------
    list of Problem
        Errors, warnings and notes, each naming its file; empty for a clean recording.
    """
    try:
        recording = recording_for(open_source(path))
    except RecordingError as exc:
        return exc.problems
    problems = recording.structure_problems()
    if not recording.source.is_dir("data"):
        return problems
    try:
        recording.trial_shape(recording.layout.stimulus)
    except RecordingError as exc:
        return _unique(problems + exc.problems)
    fields = recording.fields
    try:
        _ = recording.n_neurons
    except RecordingError:  # reported above; trials whose shape needs it cannot be checked
        fields = tuple(f for f in fields if f != "responses")
    else:
        problems.extend(_statistics_problems(recording))
    nonzero = np.zeros(recording.n_trials, dtype=bool)
    bar = progress_bar(
        progress, total=recording.n_trials, desc=f"validating {recording.key}", unit="trial"
    )
    done = 0
    with bar:
        for index in range(recording.n_trials):
            if len(problems) >= max_problems:
                problems.append(
                    Problem(
                        recording.source.where("data"),
                        f"stopped after {len(problems)} problems, at trial {index} of "
                        f"{recording.n_trials}",
                        "note",
                    )
                )
                break
            arrays, trial_problems = check_trial(recording, index, fields)
            problems.extend(trial_problems)
            if "responses" in arrays:
                nonzero[index] = bool(np.nan_to_num(arrays["responses"]).any())
            done += 1
            bar.update()
    checked = done == recording.n_trials and "responses" in fields
    try:
        # a partial scan, or tiers that do not fit the trials, would name the wrong tiers
        if checked and recording.tiers.shape == (recording.n_trials,):
            problems.extend(withheld_notes(recording, nonzero))
    except RecordingError:
        pass  # the tiers file is unusable: already reported by the structure checks
    return _unique(problems)


def _unique(problems: list[Problem]) -> list[Problem]:
    """Drop repeated problems (a missing file found by two stages), keeping the order."""
    return list(dict.fromkeys(problems))


def withheld_notes(recording: Recording, nonzero: np.ndarray) -> list[Problem]:
    """Note the tiers whose responses are all zero (withheld in competition releases).

    Parameters
    ----------
    recording
        An open recording.
    nonzero
        For each trial, whether any of its responses is non-zero.

    Returns
    -------
    list of Problem
        One note per withheld tier.
    """
    notes = []
    for tier in recording.tier_counts:
        if not nonzero[recording.tier_indices(tier)].any():
            notes.append(
                Problem(
                    recording.source.where("data/responses"),
                    f"all responses of tier {tier!r} are zero (withheld, as in a competition "
                    "release)",
                    "note",
                )
            )
    return notes
