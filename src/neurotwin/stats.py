"""Statistics every stage shares, numpy only (no torch, no scikit-image, no pyarrow).

The scorer, the trainer's validation, the simulator's ceilings and the models' checks all
compute the same Pearson correlation; it lives here so none of them imports another
stage for it (:mod:`neurotwin.scoring.metrics` re-exports it as part of its API).
"""

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
    # samples first, everything else flattened; mean((x/sx) * (y/sy)) == cov / (sx * sy),
    # computed with column-wise dot products instead of full-size temporaries
    rest = x.shape[:axis] + x.shape[axis + 1 :] if x.ndim else ()
    n = x.shape[axis] if x.ndim else 1
    xc = np.moveaxis(x, axis, 0).reshape(n, -1)
    yc = np.moveaxis(y, axis, 0).reshape(n, -1)
    xc = xc - xc.mean(axis=0)
    yc = yc - yc.mean(axis=0)
    cov = np.einsum("ij,ij->j", xc, yc) / n
    sx = np.sqrt(np.einsum("ij,ij->j", xc, xc) / n) + eps
    sy = np.sqrt(np.einsum("ij,ij->j", yc, yc) / n) + eps
    with np.errstate(invalid="ignore"):
        corr = cov / (sx * sy)
    return np.nan_to_num(corr, nan=0.0).reshape(rest)


__all__ = ["EPS", "correlation"]
