"""Trial-to-trial variability: a shared fluctuating gain and compound Poisson-gamma events.

A neuron's response is a sum of calcium events: the number of events is Poisson with mean
``gain * rate / event_size`` and each event's amplitude is gamma distributed (mean
``event_size``, shape :data:`EVENT_SHAPE`). Responses are therefore non-negative, exactly zero
on many trials, and right-skewed like deconvolved calcium traces; their mean given the rate
is ``gain * rate`` and the shared ``gain`` averages 1, so the noiseless rate is what the
responses average to.
"""

from __future__ import annotations

import numpy as np

#: Gamma shape of one event's amplitude (coefficient of variation 1/sqrt(2)).
EVENT_SHAPE = 2.0


def shared_gain(rng: np.random.Generator, n: int, sd: float, timescale: float) -> np.ndarray:
    """Draw a log-normal gain of mean 1, common to all neurons, that drifts over samples.

    Parameters
    ----------
    rng
        Random generator.
    n
        Number of samples (trials or frames).
    sd
        Standard deviation of the gain.
    timescale
        Correlation time in samples (half of the variance is slow, half independent).

    Returns
    -------
    numpy.ndarray
        ``(n,)`` positive gains.
    """
    rho = float(np.exp(-1.0 / max(timescale, 1e-6)))
    slow = np.empty(n)
    state = rng.standard_normal()
    innovations = rng.standard_normal(n) * np.sqrt(1 - rho**2)
    for t in range(n):
        state = rho * state + innovations[t]
        slow[t] = state
    z = np.sqrt(0.5) * slow + np.sqrt(0.5) * rng.standard_normal(n)
    s2 = np.log1p(sd**2)
    return np.exp(np.sqrt(s2) * z - s2 / 2)


def sample_responses(
    rng: np.random.Generator, rates: np.ndarray, event_size: np.ndarray
) -> np.ndarray:
    """Draw noisy responses whose expectation is ``rates``.

    Parameters
    ----------
    rng
        Random generator.
    rates
        Expected responses ``(..., n)`` (already multiplied by the shared gain), >= 0.
    event_size
        Mean amplitude of one event per neuron ``(n,)``.

    Returns
    -------
    numpy.ndarray
        Responses of the same shape, float32, >= 0.
    """
    counts = rng.poisson(np.maximum(rates, 0.0) / event_size)
    amplitude = rng.gamma(np.maximum(counts * EVENT_SHAPE, 1e-12)) / EVENT_SHAPE
    return np.where(counts > 0, amplitude * event_size, 0.0).astype(np.float32)
