"""Exact ceilings of simulated recordings: how well the true rates predict noisy responses.

No model can beat, in expectation, the correlation between the noiseless rate and the noisy
response, so this is the exact ceiling of the single-trial correlation. Static tiers are
correlated over trials; video tiers like the 2023 scorer: the first
:data:`~neurotwin.scoring.metrics.SKIP_FRAMES` frames of each trial and every frame from
:data:`~neurotwin.scoring.metrics.STOP_FRAME` on are dropped,
the remaining frames of all trials concatenated, and the correlation taken over them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from neurotwin.errors import NeurotwinError
from neurotwin.scoring.metrics import stack_scored_frames
from neurotwin.stats import correlation


def ceiling_from_arrays(rates: np.ndarray, responses: np.ndarray) -> np.ndarray:
    """Per-neuron correlation between true rates and noisy responses.

    Parameters
    ----------
    rates, responses
        Static ``(trials, n)`` or video ``(trials, n, T)`` arrays of one tier.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` correlations.
    """
    if rates.ndim == 3:
        return correlation(stack_scored_frames(rates), stack_scored_frames(responses), axis=0)
    return correlation(rates, responses, axis=0)


def exact_ceiling(truth_dir: str | os.PathLike[str], tier: str) -> tuple[np.ndarray, float]:
    """Return the exact single-trial correlation ceiling of one tier of a simulated recording.

    Parameters
    ----------
    truth_dir
        The ``*.truth`` folder written beside the recording.
    tier
        A tier name, e.g. ``"test"`` (static) or ``"live_test_main"`` (video).

    Returns
    -------
    per_neuron : numpy.ndarray
        ``(n_neurons,)`` ceiling of every neuron.
    mean : float
        Their mean (what a benchmark's mean correlation is compared with).

    Raises
    ------
    NeurotwinError
        When the folder is not a truth folder or the tier has no trials.
    """
    truth = Path(truth_dir)
    for name in ("rates.npy", "responses.npy", "tiers.npy"):
        if not (truth / name).is_file():
            raise NeurotwinError(f"{truth}/{name} not found: is this a simulated truth folder?")
    tiers = np.load(truth / "tiers.npy").astype(str)
    index = np.flatnonzero(tiers == tier)
    if len(index) == 0:
        present = ", ".join(sorted(set(tiers.tolist())))
        raise NeurotwinError(f"tier {tier!r} has no trials in {truth}; tiers present: {present}")
    rates = np.load(truth / "rates.npy", mmap_mode="r")
    responses = np.load(truth / "responses.npy", mmap_mode="r")
    per_neuron = ceiling_from_arrays(rates[index], responses[index])
    return per_neuron, float(per_neuron.mean())
