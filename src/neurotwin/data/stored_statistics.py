"""A recording's stored statistics (``meta/statistics/``): read them and check them once.

:meth:`Recording.statistics <neurotwin.data.recording.Recording.statistics>` and
:meth:`~neurotwin.data.recording.Recording.statistics_problems` call these; the cache,
the loaders, the scorer's ground truth and ``validate`` all rely on the same checks.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from neurotwin.data.layout import STATISTIC_NAMES
from neurotwin.data.problems import RecordingError
from neurotwin.problems import Problem

if TYPE_CHECKING:
    from neurotwin.data.recording import Recording

#: The second statistics subfolder, spelled both ways in the wild.
STIMULUS_FRAME = ("stimulus_frame", "stimulus_Frame")


def statistics_dir(recording: Recording, field: str, subset: str) -> str | None:
    """Return the folder of a field's statistics subset (either spelling), or None."""
    names = STIMULUS_FRAME if subset in STIMULUS_FRAME else (subset,)
    for name in names:
        rel = f"meta/statistics/{field}/{name}"
        if recording.source.is_dir(rel):
            return rel
    return None


def read_statistics(
    recording: Recording, field: str, subset: str = "all", *, check: bool = True
) -> dict[str, np.ndarray]:
    """Return the statistics of one field, checked before anything divides by them.

    Parameters
    ----------
    field
        ``images``/``videos``, ``responses``, ``behavior`` or ``pupil_center``.
    subset
        ``"all"`` (what normalisation uses) or ``"stimulus_frame"`` (either spelling).
    check
        Refuse statistics that :func:`statistics_problems` finds wrong (the default;
        the cache, training, the scorer's truth and ``validate`` all rely on it).

    Returns
    -------
    dict
        ``mean``, ``std``, ``min``, ``max``, ``median`` (those present), as float64 arrays.

    Raises
    ------
    RecordingError
        When the statistics are missing, not numbers, or (with ``check``) of the wrong
        shape, NaN or infinite, negative, or zero where they divide.
    """
    rel = statistics_dir(recording, field, subset)
    if rel is None:
        raise RecordingError(
            Problem(
                recording.source.where(f"meta/statistics/{field}/{subset}"),
                "statistics are missing; they are needed to normalise this field",
            )
        )
    out = {}
    for stat in STATISTIC_NAMES:
        if recording.source.is_file(f"{rel}/{stat}.npy"):
            arr = recording.source.load(f"{rel}/{stat}.npy")
            if arr.dtype.kind not in "iuf":  # strings, booleans, complex, dates...
                raise RecordingError(
                    Problem(
                        recording.source.where(f"{rel}/{stat}.npy"),
                        f"has dtype {arr.dtype}, expected real numbers",
                    )
                )
            out[stat] = np.asarray(arr, dtype=np.float64)
    if "mean" not in out or "std" not in out:
        raise RecordingError(
            Problem(recording.source.where(rel), "needs at least mean.npy and std.npy")
        )
    if check:
        found = statistics_problems(recording, field, out, rel)
        errors = [p for p in found if p.severity == "error"]
        if errors:
            raise RecordingError(errors)
    return out


def statistics_problems(
    recording: Recording, field: str, stats: Mapping[str, np.ndarray], rel: str | None = None
) -> list[Problem]:
    """Check one field's statistics: the one set of checks used wherever they are used.

    The mean and std must have one row per feature (neurons, behaviour channels, the
    two pupil coordinates; stimulus statistics may be scalar or carry pixel or frame
    axes, responses and behaviour a trailing time axis), be finite once reduced to one
    value per feature, hold no negative std, and be non-zero where they divide: the
    stimulus std, and the mean response std (each neuron is divided by its std floored
    at 1% of that mean, so single silent neurons are fine). A behaviour or pupil channel
    whose std is zero is left unscaled (documented in ``docs/data.md``).

    Parameters
    ----------
    field
        The field the statistics belong to.
    stats
        Its statistics, as :func:`read_statistics` reads them (``check=False``).
    rel
        Their folder, for messages (default ``meta/statistics/{field}/all``).

    Returns
    -------
    list of Problem
        Errors naming ``std.npy`` or ``mean.npy``; empty when the statistics are sound.
    """
    from neurotwin.data.normalize import collapse_statistics

    rel = rel or f"meta/statistics/{field}/all"
    layout = recording.layout
    widths = {"responses": recording.n_neurons, "behavior": layout.behavior_channels}
    width = widths.get(field, 2 if field == "pupil_center" else None)
    expected = "a scalar" if width is None else f"({width},)"
    problems = []
    arrays = {name: np.asarray(stats[name], dtype=np.float64) for name in ("mean", "std")}
    for name, arr in arrays.items():
        if width is None:
            ok = True  # stimulus statistics may be scalar or carry pixel/time axes
        else:
            ok = arr.ndim in (1, 2) and arr.shape[0] == width
        if not ok:
            problems.append(
                Problem(
                    recording.source.where(f"{rel}/{name}.npy"),
                    f"has shape {arr.shape}, expected {expected} (a trailing time axis is "
                    "accepted)",
                )
            )
    if problems:
        return problems
    mean, std = arrays["mean"], arrays["std"]
    for name, arr in arrays.items():
        if arr.size == 0:
            problems.append(Problem(recording.source.where(f"{rel}/{name}.npy"), "is empty"))
    if problems:
        return problems
    if (width is None and mean.size not in (1, std.size)) or (
        width is not None and std.ndim == 1 and mean.shape != std.shape
    ):
        return [
            Problem(
                recording.source.where(f"{rel}/mean.npy"),
                f"has shape {mean.shape} but std.npy has {std.shape}",
            )
        ]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: caught below
        reduced_mean, reduced_std = collapse_statistics(mean, std, width)
    where_std = recording.source.where(f"{rel}/std.npy")
    if not np.isfinite(reduced_std).all() or (reduced_std < 0).any():
        bad = int(np.sum(~np.isfinite(reduced_std) | (reduced_std < 0)))
        problems.append(
            Problem(where_std, f"holds negative, NaN or infinite values ({bad} of them)")
        )
    elif not np.isfinite(reduced_mean).all():
        problems.append(
            Problem(recording.source.where(f"{rel}/mean.npy"), "holds NaN or infinite values")
        )
    elif field == layout.stimulus and not (reduced_std > 0).all():
        problems.append(Problem(where_std, "is zero: the stimulus cannot be normalised by it"))
    elif field == "responses" and not float(np.mean(reduced_std)) > 0:
        problems.append(
            Problem(
                where_std,
                "is zero for every neuron: responses cannot be scaled (a ground truth "
                "made from it would be NaN)",
            )
        )
    return problems
