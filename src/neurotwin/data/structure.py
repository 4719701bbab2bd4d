"""A recording's structure, checked without reading per-trial arrays.

Folders, trial-file numbering, trial counts that agree between fields, metadata of the
right lengths, unique ids and known tiers: everything :func:`open_recording
<neurotwin.data.recording.open_recording>` refuses a recording for at once.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

from neurotwin.data.problems import RecordingError
from neurotwin.errors import quote_untrusted
from neurotwin.problems import Problem

if TYPE_CHECKING:
    from neurotwin.data.recording import Recording

TRIAL_FILE = re.compile(r"^(\d+)\.npy$")


def trial_files(recording: Recording, field: str) -> tuple[list[str], list[Problem]]:
    """List ``data/{field}``'s trial files and whatever is wrong with their names."""
    rel = f"data/{field}"
    names = recording.source.listdir(rel)
    numbers, problems = [], []
    for n in names:
        match = TRIAL_FILE.match(n)
        if match:
            numbers.append(int(match.group(1)))
        else:
            problems.append(
                Problem(recording.source.where(f"{rel}/{n}"), "unexpected file", "warning")
            )
    numbers.sort()
    if numbers != list(range(len(numbers))):
        missing = sorted(set(range(max(numbers, default=-1) + 1)) - set(numbers))
        shown = ", ".join(f"{m}.npy" for m in missing[:5])
        problems.append(
            Problem(
                recording.source.where(rel),
                f"trial files must be numbered 0..n-1; missing {shown}"
                + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""),
            )
        )
    return [f"{i}.npy" for i in numbers], problems


def structure_problems(recording: Recording) -> list[Problem]:
    """Return every problem that can be found without reading per-trial arrays.

    Returns
    -------
    list of Problem
        Errors (the recording cannot be used) and warnings, each naming its file.
    """
    src = recording.source
    refused = src.refused_entries()
    problems: list[Problem] = [
        Problem(src.where(rel), why) for rel, why in refused.items() if "/" not in rel
    ]
    for top in ("data", "meta"):
        if not src.is_dir(top) and top not in refused:
            problems.append(Problem(src.where(top), "folder is missing"))
    if problems:
        return problems
    counts: dict[str, int] = {}
    for field in recording.layout.fields:
        if not src.is_dir(f"data/{field}"):
            if field in recording.layout.required_fields:
                problems.append(Problem(src.where(f"data/{field}"), "folder is missing"))
            continue
        files, field_problems = trial_files(recording, field)
        problems.extend(field_problems)
        counts[field] = len(files)
    if counts:
        reference = (
            recording.layout.stimulus if recording.layout.stimulus in counts else next(iter(counts))
        )
        for field, count in counts.items():
            if count != counts[reference]:
                problems.append(
                    Problem(
                        src.where(f"data/{field}"),
                        f"holds {count} trials but data/{reference} holds {counts[reference]}",
                    )
                )
        if counts.get(recording.layout.stimulus, 0) == 0 and recording.layout.stimulus in counts:
            problems.append(Problem(src.where(f"data/{recording.layout.stimulus}"), "is empty"))
    problems.extend(meta_problems(recording, counts.get(recording.layout.stimulus)))
    return problems


def meta_problems(recording: Recording, n_trials: int | None) -> list[Problem]:
    """Check ``meta/``: neuron and trial metadata lengths, unique ids, known tiers."""
    src = recording.source
    problems: list[Problem] = []
    for rel in ("meta/neurons/unit_ids.npy", "meta/trials/tiers.npy"):
        if not src.is_file(rel):
            problems.append(Problem(src.where(rel), "file is missing"))
    if problems:
        return problems
    try:
        neurons = recording.neurons
        trial_info = recording.trial_info
        n_neurons = recording.n_neurons
    except RecordingError as exc:
        return exc.problems
    for stem, arr in neurons.items():
        rel = f"meta/neurons/{stem}.npy"
        if arr.ndim == 0 or arr.shape[0] != n_neurons:
            problems.append(
                Problem(
                    src.where(rel),
                    f"has shape {arr.shape}, expected {n_neurons} rows like "
                    "meta/neurons/unit_ids.npy",
                )
            )
    if not problems and len(np.unique(neurons["unit_ids"])) != n_neurons:
        problems.append(Problem(src.where("meta/neurons/unit_ids.npy"), "ids are not unique"))
    coords = neurons.get("cell_motor_coordinates")
    if coords is not None and (coords.ndim != 2 or coords.shape[1] != 3):
        problems.append(
            Problem(
                src.where("meta/neurons/cell_motor_coordinates.npy"),
                f"has shape {coords.shape}, expected ({n_neurons}, 3)",
            )
        )
    n_before = len(problems)
    for stem, arr in trial_info.items():
        rel = f"meta/trials/{stem}.npy"
        if n_trials is not None and (arr.ndim == 0 or arr.shape[0] != n_trials):
            problems.append(
                Problem(
                    src.where(rel),
                    f"has shape {arr.shape}, expected {n_trials} rows like the trial files "
                    f"in data/{recording.layout.stimulus}",
                )
            )
    if len(problems) > n_before:  # shapes are wrong: the checks below would repeat that
        return problems
    unknown = sorted(set(trial_info["tiers"].astype(str).tolist()) - set(recording.layout.tiers))
    if unknown:
        shown = ", ".join(quote_untrusted(t, 30) for t in unknown[:5])
        problems.append(
            Problem(
                src.where("meta/trials/tiers.npy"),
                f"unknown tier(s) {shown}; a {recording.kind} recording uses "
                f"{recording.layout.tiers}",
            )
        )
    if "trial_idx" not in trial_info:
        problems.append(
            Problem(src.where("meta/trials/trial_idx.npy"), "file is missing", "warning")
        )
    elif len(np.unique(trial_info["trial_idx"])) != len(trial_info["trial_idx"]):
        problems.append(
            Problem(src.where("meta/trials/trial_idx.npy"), "ids are not unique", "warning")
        )
    if not recording.source.is_dir("meta/statistics"):
        problems.append(
            Problem(
                src.where("meta/statistics"),
                "folder is missing: the recording cannot be normalised",
                "warning",
            )
        )
    return problems
