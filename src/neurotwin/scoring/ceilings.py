"""Ceilings: what no model can beat on a tier, from repeats or from the simulator's rates.

- From repeats: the leave-one-out oracle correlation (spec/metrics.md) bounds the
  single-trial correlation; the fraction of explainable variance says how much of each
  neuron's variance is stimulus-driven at all.
- Exact (simulated data only): any metric evaluated with the noiseless rates as the
  prediction. For the single-trial correlation this is ``correlation(rates, responses)``
  per neuron over the scored trials (video: the same frames as the metric).
"""

from __future__ import annotations

import numpy as np

from neurotwin.scoring.metrics import (
    explainable_variance,
    oracle_correlation,
    video_oracle_correlation,
)
from neurotwin.scoring.truth import TierTruth


def has_repeats(truth: TierTruth) -> bool:
    """Return whether any stimulus of the tier is shown more than once."""
    return len(np.unique(truth.stimulus_ids)) < truth.n_trials


def repeat_ceiling(truth: TierTruth) -> np.ndarray | None:
    """Per-neuron oracle correlation of a tier, or None when nothing is repeated.

    Parameters
    ----------
    truth
        One tier's ground truth.

    Returns
    -------
    numpy.ndarray or None
        ``(n_neurons,)`` leave-one-out oracle correlation.
    """
    if not has_repeats(truth):
        return None
    if truth.n_frames is None:
        return oracle_correlation(truth.responses, truth.stimulus_ids)
    return video_oracle_correlation(truth.responses, truth.n_frames, truth.stimulus_ids)


def tier_explainable_variance(truth: TierTruth) -> np.ndarray | None:
    """Per-neuron fraction of explainable variance of a static tier (None for video).

    Parameters
    ----------
    truth
        One tier's ground truth.

    Returns
    -------
    numpy.ndarray or None
        ``(n_neurons,)`` FEV, NaN where undefined.
    """
    if truth.n_frames is not None or not has_repeats(truth):
        return None
    return explainable_variance(truth.responses, truth.stimulus_ids)
