"""Responses in the standardised unit the scorer compares in.

The scale itself is :func:`neurotwin.data.normalize.response_scale`, the one definition
of the rule that the loaders use too; this module applies it to the scorer's arrays.
"""

from __future__ import annotations

import numpy as np


def standardize(responses: np.ndarray, scale: np.ndarray, *, video: bool = False) -> np.ndarray:
    """Divide responses by a scale from :func:`response_scale`.

    Parameters
    ----------
    responses
        Static ``(..., n_neurons)``; video ``(..., n_neurons, T)``.
    scale
        ``(n_neurons,)`` or, per frame (video only), ``(n_neurons, T')``; a per-frame scale
        is cut or NaN-padded to the responses' ``T``.
    video
        Whether neurons sit on the second-to-last axis, time on the last.

    Returns
    -------
    numpy.ndarray
        float32 standardised responses.
    """
    responses = np.asarray(responses)
    scale = np.asarray(scale, dtype=np.float64)
    if scale.ndim == 1:
        divisor = scale[:, None] if video else scale
    else:
        if not video:
            raise ValueError("a per-frame scale applies to video responses only")
        t = responses.shape[-1]
        if scale.shape[1] < t:
            scale = np.pad(scale, ((0, 0), (0, t - scale.shape[1])), constant_values=np.nan)
        divisor = scale[:, :t]
    return np.asarray(responses / divisor, dtype=np.float32)
