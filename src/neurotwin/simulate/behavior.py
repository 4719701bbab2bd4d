"""Behaviour and eye position as slow random processes, one sample per trial or frame.

Locomotion is a slow latent state: the mouse sits still part of the time (running speed
exactly 0) and runs in bouts; pupil dilation follows arousal, which tracks locomotion; the
pupil centre drifts and makes occasional saccade-like jumps. For static recordings one
sample stands for one trial in presentation order (the process runs across trials); for
video recordings the process runs frame by frame across consecutive trials.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Pupil centre (eye-camera pixels): resting mean and typical excursion per axis.
PUPIL_CENTER_MEAN = np.array([310.0, 230.0])
PUPIL_CENTER_SD = np.array([8.0, 5.0])


@dataclass
class Behavior:
    """Behaviour of one mouse over a sequence of samples (trials or frames).

    Attributes
    ----------
    pupil
        Pupil dilation (diameter, eye-camera pixels).
    pupil_derivative
        Change of pupil dilation per sample.
    running
        Running speed (cm/s), 0 while the mouse sits still.
    pupil_center
        ``(samples, 2)`` horizontal and vertical eye position.
    running_z, pupil_z
        Running speed and pupil dilation z-scored over the whole sequence; the behaviour
        gain of every neuron is a function of these.
    eye_shift
        ``(samples, 2)`` receptive-field shift (rows, columns of the model grid).
    """

    pupil: np.ndarray
    pupil_derivative: np.ndarray
    running: np.ndarray
    pupil_center: np.ndarray
    running_z: np.ndarray
    pupil_z: np.ndarray
    eye_shift: np.ndarray


def _ar1(rng: np.random.Generator, n: int, timescale: float) -> np.ndarray:
    """Unit-variance AR(1) process with the given correlation time (in samples)."""
    rho = float(np.exp(-1.0 / max(timescale, 1e-6)))
    innovations = rng.standard_normal(n) * np.sqrt(1 - rho**2)
    out = np.empty(n)
    state = rng.standard_normal()
    for t in range(n):
        state = rho * state + innovations[t]
        out[t] = state
    return out


def _zscore(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / (x.std() + 1e-9)


def simulate_behavior(
    rng: np.random.Generator,
    n: int,
    timescale: float,
    saccade_rate: float,
    eye_shift: float,
) -> Behavior:
    """Draw the behaviour of one mouse.

    Parameters
    ----------
    rng
        Random generator.
    n
        Number of samples (trials for static recordings, frames for video).
    timescale
        Correlation time of locomotion and arousal, in samples.
    saccade_rate
        Probability per sample of an eye jump.
    eye_shift
        Receptive-field shift (model pixels) per standard deviation of eye position.

    Returns
    -------
    Behavior
        Every behavioural variable.
    """
    locomotion = _ar1(rng, n, timescale)
    arousal = 0.6 * locomotion + 0.8 * _ar1(rng, n, timescale * 1.5)
    running = np.maximum(0.0, 12.0 * (locomotion + 0.3) + rng.normal(0, 1.0, n))
    running[locomotion < -0.3] = 0.0
    pupil = np.maximum(30.0 + 8.0 * arousal + rng.normal(0, 0.5, n), 5.0)
    derivative = np.diff(pupil, prepend=pupil[0])
    # eye position: slow drift plus jumps that decay back to rest
    drift = np.column_stack([_ar1(rng, n, timescale / 2), _ar1(rng, n, timescale / 2)])
    jumps = np.zeros((n, 2))
    offset = np.zeros(2)
    decay = float(np.exp(-1.0 / max(timescale / 4, 1.0)))
    jump_at = rng.random(n) < saccade_rate
    jump_size = rng.normal(0, 1.2, (n, 2))
    for t in range(n):
        offset = offset * decay + (jump_size[t] if jump_at[t] else 0.0)
        jumps[t] = offset
    displacement = 0.7 * drift + 0.7 * jumps
    pupil_center = PUPIL_CENTER_MEAN + PUPIL_CENTER_SD * displacement
    shift = eye_shift * (pupil_center - PUPIL_CENTER_MEAN) / PUPIL_CENTER_SD
    return Behavior(
        pupil=pupil,
        pupil_derivative=derivative,
        running=running,
        pupil_center=pupil_center,
        running_z=_zscore(running),
        pupil_z=_zscore(pupil),
        # horizontal eye position moves receptive fields along columns, vertical along rows
        eye_shift=np.column_stack([shift[:, 1], shift[:, 0]]),
    )
