"""Predictions of a submission in memory, one class per release, and their finiteness check."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurotwin.scoring.errors import ProblemList

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
#: How a prediction that float32 cannot hold is described, whatever the container.
OUT_OF_RANGE = "NaN or infinite, or beyond float32's range (|x| > 3.4e38)"
#: Largest prediction magnitude scored, in the standardised unit (responses of order 1):
#: float64 spaces numbers near 1e15 by 0.125, so beside a larger prediction a response of
#: order 1 is lost in ``prediction - response`` and FEVE would not depend on the responses.
MAX_MAGNITUDE = 1e15


@dataclass
class StaticPredictions:
    """One 2022 CSV file's content, in file order.

    Attributes
    ----------
    trial_ids
        ``(n_rows,)`` str ``trial_indices``.
    image_ids
        ``(n_rows,)`` str ``image_ids``.
    neuron_ids
        ``(n_neurons,)`` int64, the order of every prediction row.
    values
        ``(n_rows, n_neurons)`` float32 predictions in the standardised unit.
    """

    trial_ids: np.ndarray
    image_ids: np.ndarray
    neuron_ids: np.ndarray
    values: np.ndarray


@dataclass
class VideoPredictions:
    """One 2023 parquet file's content, in file order.

    Attributes
    ----------
    mice
        ``(n_rows,)`` str recording folder name of each row.
    trial_ids
        ``(n_rows,)`` str ``trial_indices``.
    neuron_ids
        Per mouse, the unit ids in the order of that mouse's prediction rows.
    values
        Per row, ``(n_neurons, T - 50)`` float32 predictions.
    """

    mice: np.ndarray
    trial_ids: np.ndarray
    neuron_ids: dict[str, np.ndarray]
    values: list[np.ndarray]


def _check_finite(values: np.ndarray, where: object, problems: ProblemList) -> None:
    """Report every prediction the metrics cannot use (``where(row)`` names the row).

    ``values`` are the predictions as the scorer uses them (float32): NaN, infinite (a
    finite value written beyond float32's range reads as infinite) or beyond
    :data:`MAX_MAGNITUDE`.
    """
    if values.size == 0:
        return
    # fast path: two reductions and no temporaries (a NaN makes both comparisons false)
    if values.min() >= -MAX_MAGNITUDE and values.max() <= MAX_MAGNITUDE:
        return
    with np.errstate(invalid="ignore"):
        huge = np.abs(values) > MAX_MAGNITUDE
    bad = ~np.isfinite(values) | huge
    if not bad.any():
        return
    rows = np.flatnonzero(bad.reshape(len(values), -1).any(axis=1))
    for r in rows[: problems.limit]:
        cols = np.flatnonzero(bad[r].ravel())
        written = values[r].ravel()[cols]
        assert callable(where)
        if np.isfinite(written).all():
            problems.add(
                where(int(r)),
                f"{len(cols)} prediction(s) exceed {MAX_MAGNITUDE:.0e} in magnitude (first at "
                f"position {int(cols[0])}: {float(written[0]):.3g}); predictions are in the "
                "standardised unit (responses divided by their std, of order 1), and beyond "
                "this the error metrics (FEVE) no longer resolve the responses",
            )
            continue
        # one wording whatever the container: NaN alone, else every kind float32 cannot hold
        kinds = "NaN" if np.isnan(written).all() else OUT_OF_RANGE
        problems.add(
            where(int(r)),
            f"{len(cols)} prediction(s) are {kinds} (first at position {int(cols[0])})",
        )


def check_in_memory(
    name: str, pred: StaticPredictions | VideoPredictions, problems: ProblemList
) -> None:
    """Report predictions handed over in memory that the metrics cannot use (float32)."""
    if isinstance(pred, StaticPredictions):
        with np.errstate(over="ignore"):
            values = np.asarray(pred.values, dtype=np.float32)
        if values.ndim == 2:
            _check_finite(values, lambda r: f"{name} row {r}", problems)
        return
    for r, row in enumerate(pred.values):
        with np.errstate(over="ignore"):
            values = np.asarray(row, dtype=np.float32)
        if values.size:
            _check_finite(values[None], lambda _r, w=f"{name} row {r}": w, problems)
