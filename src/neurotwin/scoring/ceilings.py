"""Ceilings: what no model can beat on a tier, from repeats or from the simulator's rates.

- From repeats: the leave-one-out oracle correlation (spec/metrics.md), the fraction of
  explainable variance (how much of each neuron's variance is stimulus-driven at all), and
  an estimated single-trial ceiling of a model that sees only the stimulus, derived from it
  (:func:`estimated_ceiling`, with its bootstrap spread :func:`estimated_ceiling_sd`). The
  oracle correlation is not a ceiling: it correlates one trial with the mean of the other
  repeats, itself noisy, so a perfect model can beat it.
- Exact (simulated data only): any metric evaluated with the noiseless rates as the
  prediction. For the single-trial correlation this is ``correlation(rates, responses)``
  per neuron over the scored trials (video: the same frames as the metric).
"""

from __future__ import annotations

import numpy as np

from neurotwin.scoring.metrics import (
    _repeated_videos,
    explainable_variance,
    neuron_blocks,
    oracle_correlation,
    video_oracle_correlation,
)
from neurotwin.scoring.truth import TierTruth

#: Fewest repeated stimuli of a static tier for which the scorer shows the estimated
#: ceiling. On simulated mice (200 neurons, 10 repeats, 2 seeds x 2 tiers) the mean estimate
#: was 6-18% below the true images-only ceiling with 10 stimuli, 3-5% with 20, 3-4% with 30,
#: within 3% with 50 and within 1.1% with 100 (docs/concepts.md).
MIN_REPEATED_STIMULI = 50


def repeated_stimuli(truth: TierTruth) -> int:
    """Return how many stimuli of the tier are shown at least twice."""
    _, counts = np.unique(truth.stimulus_ids, return_counts=True)
    return int((counts >= 2).sum())


def estimated_ceiling_sd(truth: TierTruth, draws: int = 100, seed: int = 0) -> float | None:
    """Bootstrap standard deviation of the mean estimated ceiling of a static tier.

    Stimuli are drawn with replacement (each with all its repeats, a stimulus drawn twice
    counted as two stimuli) and :func:`estimated_ceiling` averaged over neurons per draw.

    Parameters
    ----------
    truth
        One static tier's ground truth.
    draws
        Bootstrap draws.
    seed
        Seed of the draws (the result is reproducible).

    Returns
    -------
    float or None
        The standard deviation over draws; None for video or without repeats.
    """
    if truth.n_frames is not None or not has_repeats(truth):
        return None
    # per stimulus: count, sum, sum of squares (centred for precision), repeat variance; a
    # draw is a weighting of stimuli, so each draw's FEV follows from these sums alone
    r = np.asarray(truth.responses, dtype=np.float64)
    r = r - r.mean(axis=0)
    _, inverse, n = np.unique(truth.stimulus_ids, return_inverse=True, return_counts=True)
    sums = np.zeros((len(n), r.shape[1]))
    np.add.at(sums, inverse, r)
    squares = np.zeros_like(sums)
    np.add.at(squares, inverse, r**2)
    rep = n >= 2
    repeat_var = (squares[rep] - sums[rep] ** 2 / n[rep, None]) / (n[rep, None] - 1)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(n), size=(draws, len(n)))
    weights = np.stack([np.bincount(p, minlength=len(n)) for p in picks]).astype(np.float64)
    total_n = weights @ n
    with np.errstate(invalid="ignore", divide="ignore"):
        total_var = (weights @ squares - (weights @ sums) ** 2 / total_n[:, None]) / (
            total_n[:, None] - 1
        )
        noise_var = (weights[:, rep] @ repeat_var) / weights[:, rep].sum(axis=1)[:, None]
        fev = 1.0 - noise_var / total_var
    means = np.sqrt(np.clip(np.nan_to_num(fev, nan=0.0), 0.0, 1.0)).mean(axis=1)
    return float(np.std(means, ddof=1))


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


def estimated_ceiling(truth: TierTruth) -> np.ndarray | None:
    """Per-neuron estimated ceiling of the single-trial correlation, from repeats.

    Write a response as ``r = s + e``: the stimulus-driven part ``s`` and trial-to-trial
    noise ``e`` of variance ``sigma2``, independent of ``s``. A perfect model predicts ``s``
    and reaches ``corr(s, r) = sqrt(Var(s) / Var(r)) = sqrt(1 - sigma2 / Var(r))``. Here
    ``Var(r)`` is the variance over every scored trial (video: every scored frame of every
    trial) and ``sigma2`` the variance between repeats of one stimulus (video: of one frame
    of one video), averaged over repeated stimuli (ddof 1), as in the fraction of
    explainable variance. Equivalently, the leave-one-out oracle correlation divided by
    ``sqrt(Var(s) / (Var(s) + sigma2 / (n - 1)))``, the reliability of the mean of the
    ``n - 1`` other repeats it correlates with: the oracle is lowered by the noise of that
    mean, this estimate is not.

    It is the ceiling of a model that sees only the stimulus: the variability between
    repeats includes what behaviour (running, pupil, eye position) drives, so a model that
    uses behaviour can exceed it. With few repeated stimuli each neuron's FEV is noisy and
    the mean of the clipped square roots is biased low (the scorer shows no estimate below
    :data:`MIN_REPEATED_STIMULI`, see docs/concepts.md).

    Parameters
    ----------
    truth
        One tier's ground truth.

    Returns
    -------
    numpy.ndarray or None
        ``(n_neurons,)`` in ``[0, 1]`` (0 for a constant neuron, which every model scores
        0 on); None when nothing is repeated.
    """
    if not has_repeats(truth):
        return None
    if truth.n_frames is None:
        fev = explainable_variance(
            np.asarray(truth.responses, dtype=np.float64), truth.stimulus_ids
        )
    else:
        r = np.asarray(truth.responses)
        n_frames = np.clip(np.asarray(truth.n_frames, dtype=np.int64), 0, r.shape[2])
        videos = [(t, f) for t, f in _repeated_videos(truth.stimulus_ids, n_frames) if f > 0]
        if not videos:
            return None
        # by blocks of neurons (each neuron's arithmetic is that of the whole tier at once)
        parts = [_video_fev(r[:, b], n_frames, videos) for b in neuron_blocks(*r.shape[1:])]
        fev = np.concatenate(parts) if parts else np.zeros(0)
    return np.sqrt(np.clip(np.nan_to_num(fev, nan=0.0), 0.0, 1.0))


def _video_fev(
    r: np.ndarray, n_frames: np.ndarray, videos: list[tuple[np.ndarray, int]]
) -> np.ndarray:
    """FEV of the neurons of ``r`` ``(n_trials, neurons, F)``, trial by trial over scored frames.

    ``videos``: the repeated videos' trials and shared frames (at least one, each with
    frames); the noise variance is averaged over their frames.
    """
    count = int(n_frames.sum())
    total_var = np.full(r.shape[1], np.nan)
    if count > 1:
        used = np.flatnonzero(n_frames > 0)
        mean = sum(r[k, :, : n_frames[k]].sum(axis=1, dtype=np.float64) for k in used)
        mean = np.asarray(mean) / count
        squares = np.zeros(r.shape[1])
        for k in used:
            centred = r[k, :, : n_frames[k]] - mean[:, None]
            squares += np.einsum("ij,ij->i", centred, centred)
        total_var = squares / (count - 1)
    noise_sum, noise_n = np.zeros(r.shape[1]), 0
    for trials, frames in videos:
        noise_sum += np.var(r[trials, :, :frames], axis=0, ddof=1, dtype=np.float64).sum(axis=1)
        noise_n += frames
    with np.errstate(invalid="ignore", divide="ignore"):
        fev: np.ndarray = 1.0 - (noise_sum / noise_n) / total_var
    return fev
