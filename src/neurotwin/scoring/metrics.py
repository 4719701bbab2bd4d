"""The benchmark's metrics, vectorised over neurons."""

from __future__ import annotations

import numpy as np

#: Added to each standard deviation, as the SENSORIUM scorers do.
EPS = 1e-8


def correlation(x: np.ndarray, y: np.ndarray, axis: int = 0, eps: float = EPS) -> np.ndarray:
    """Pearson correlation along ``axis``, as the SENSORIUM scorers compute it.

    Each array is centred and divided by its population standard deviation (ddof 0) plus
    ``eps``; the result is the mean of the products. A correlation that comes out NaN (for
    example from NaN inputs) counts as 0.

    Parameters
    ----------
    x, y
        Arrays of the same shape, samples along ``axis`` (trials or time).
    axis
        The sample axis.
    eps
        Added to each standard deviation; a constant column therefore gives 0, not NaN.

    Returns
    -------
    numpy.ndarray
        One correlation per remaining index (per neuron), float64.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {x.shape} and {y.shape}")
    xc = x - x.mean(axis=axis, keepdims=True)
    yc = y - y.mean(axis=axis, keepdims=True)
    xs = xc / (np.sqrt(np.mean(xc**2, axis=axis, keepdims=True)) + eps)
    ys = yc / (np.sqrt(np.mean(yc**2, axis=axis, keepdims=True)) + eps)
    corr = np.mean(xs * ys, axis=axis)
    return np.nan_to_num(corr, nan=0.0)
