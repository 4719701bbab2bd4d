"""Predictions of a submission in memory, one class per release, and their finiteness check."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurotwin.scoring.errors import ProblemList

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


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


def _check_finite(
    values: np.ndarray, where: object, problems: ProblemList, source: np.ndarray | None = None
) -> None:
    """Report every NaN or infinite prediction (``where(row)`` names the row).

    ``values`` are the predictions as the scorer uses them (float32); ``source``, when
    given, holds the values as written, to tell a finite value that overflows float32.
    """
    bad = ~np.isfinite(values)
    if not bad.any():
        return
    rows = np.flatnonzero(bad.reshape(len(values), -1).any(axis=1))
    for r in rows[: problems.limit]:
        cols = np.flatnonzero(bad[r].ravel())
        written = values[r].ravel() if source is None else source[r].ravel()
        if np.isnan(written[cols]).all():
            kinds = "NaN"
        elif np.isfinite(written[cols]).any():
            kinds = "NaN, infinite or beyond float32's range (|x| > 3.4e38)"
        else:
            kinds = "NaN or infinite"
        assert callable(where)
        problems.add(
            where(int(r)),
            f"{len(cols)} prediction(s) are {kinds} (first at position {int(cols[0])})",
        )


def check_in_memory(
    name: str, pred: StaticPredictions | VideoPredictions, problems: ProblemList
) -> None:
    """Report NaN or infinite predictions handed over in memory, as float32 sees them."""
    if isinstance(pred, StaticPredictions):
        with np.errstate(over="ignore"):
            values = np.asarray(pred.values, dtype=np.float32)
        if values.ndim == 2:
            _check_finite(values, lambda r: f"{name} row {r}", problems)
        return
    for r, row in enumerate(pred.values):
        with np.errstate(over="ignore"):
            values = np.asarray(row, dtype=np.float32)
        if values.size and not np.isfinite(values).all():
            _check_finite(values[None], lambda _r, w=f"{name} row {r}": w, problems)
