"""The in-silico population: receptive fields on a retinotopic map and their responses.

Each neuron has a cortical position (micrometres) and a Gabor receptive field whose centre
follows a smooth retinotopic map of that position plus scatter. Simple cells rectify one
linear Gabor, complex cells take the energy of a quadrature pair; both are divided by the
local contrast around their receptive field (divisive normalisation) and pass through an
expansive output nonlinearity. Running speed and pupil dilation multiply each neuron's rate
by its own gain; eye position shifts the image seen by every receptive field.

All filters act on the 36 x 64 model grid, as one matrix product over a chunk of stimuli.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np
from scipy import ndimage

from neurotwin.simulate.config import NeuronConfig
from neurotwin.simulate.stimuli import rng_for

STREAM_NEURONS = 10

#: Extent of the imaged cortex (micrometres) in x and y, and the imaged depths.
FIELD_OF_VIEW_UM = 800.0
DEPTHS_UM = (200.0, 240.0, 280.0, 320.0, 360.0)
#: Cortical extent of the field of view, as fractions of stimulus width and height.
RETINOTOPIC_SPAN = (0.35, 0.45)
#: Semi-saturation contrast of divisive normalisation (RMS contrast units).
SEMI_SATURATION = 0.05
#: Driven rates saturate softly at this multiple of their average.
SATURATION = 8.0
#: Sigma of the high-pass filter that defines local contrast, in model pixels.
CONTRAST_SIGMA = 3.0


@dataclass
class Population:
    """Parameters of every neuron of one simulated mouse (arrays of length ``n``).

    Attributes
    ----------
    coordinates
        ``(n, 3)`` cortical x, y, z in micrometres.
    centre
        ``(n, 2)`` receptive-field centre (row, column) in model-grid pixels.
    orientation
        Preferred orientation, radians in 0..pi.
    wavelength
        Preferred spatial period, model-grid pixels.
    sigma
        Gaussian envelope width, model-grid pixels.
    aspect
        Envelope aspect ratio (along / across the bars).
    phase
        Spatial phase of the Gabor, radians.
    is_complex
        Complex (energy) cell rather than simple (rectified linear) cell.
    direction_selective
        Video: the spatio-temporal filter is oriented in space-time (+1 or -1), or 0.
    temporal_tau
        Video: time constant of the temporal filter, frames.
    running_gain, pupil_gain
        Log-gain per unit of z-scored running speed and pupil dilation.
    mean_rate
        Typical response, in the units of ``data/responses``.
    baseline
        Spontaneous part of the rate, relative to the stimulus-driven part.
    exponent
        Output nonlinearity exponent.
    noise
        Event size relative to ``mean_rate`` (the neuron's noise level).
    reference
        Stimulus drive that maps to a unit driven rate (set by calibration).
    """

    coordinates: np.ndarray
    centre: np.ndarray
    orientation: np.ndarray
    wavelength: np.ndarray
    sigma: np.ndarray
    aspect: np.ndarray
    phase: np.ndarray
    is_complex: np.ndarray
    direction_selective: np.ndarray
    temporal_tau: np.ndarray
    running_gain: np.ndarray
    pupil_gain: np.ndarray
    mean_rate: np.ndarray
    baseline: np.ndarray
    exponent: np.ndarray
    noise: np.ndarray
    reference: np.ndarray

    @property
    def n(self) -> int:
        """Number of neurons."""
        return len(self.orientation)

    def as_arrays(self) -> dict[str, np.ndarray]:
        """Return every parameter by name (for ``neurons.npz``)."""
        return {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)}


def make_population(
    seed: int,
    mouse: int,
    n: int,
    grid: tuple[int, int],
    cells: NeuronConfig,
    direction_selective_fraction: float = 0.0,
) -> Population:
    """Draw the neurons of one mouse.

    Parameters
    ----------
    seed
        The simulation seed.
    mouse
        Index of the mouse; different mice get different neurons and maps.
    n
        Number of neurons.
    grid
        Model grid (height, width) the receptive fields live on.
    cells
        Population parameters.
    direction_selective_fraction
        Fraction of direction-selective cells (video).

    Returns
    -------
    Population
        The neurons, not yet calibrated (``reference`` is 1).
    """
    rng = rng_for(seed, STREAM_NEURONS, mouse)
    h, w = grid
    coords = np.column_stack(
        [
            rng.uniform(0, FIELD_OF_VIEW_UM, n),
            rng.uniform(0, FIELD_OF_VIEW_UM, n),
            rng.choice(DEPTHS_UM, n) + rng.normal(0, 5, n),
        ]
    )
    # retinotopy: rotated linear map of cortical position, a smooth warp and scatter
    u = coords[:, 0] / FIELD_OF_VIEW_UM - 0.5
    v = coords[:, 1] / FIELD_OF_VIEW_UM - 0.5
    angle = rng.uniform(-0.4, 0.4)
    a = np.cos(angle) * u - np.sin(angle) * v
    b = np.sin(angle) * u + np.cos(angle) * v
    span_w, span_h = RETINOTOPIC_SPAN
    col = (0.5 + rng.uniform(-0.12, 0.12) + span_w * (a + 0.15 * np.sin(2.5 * b))) * w
    row = (0.5 + rng.uniform(-0.08, 0.08) + span_h * (b + 0.1 * a**2)) * h
    col = col + rng.normal(0, cells.scatter * w, n)
    row = row + rng.normal(0, cells.scatter * w, n)
    centre = np.column_stack([np.clip(row, 2, h - 3), np.clip(col, 2, w - 3)])
    is_complex = rng.random(n) < cells.complex_fraction
    ds = np.where(rng.random(n) < direction_selective_fraction, rng.choice([-1, 1], n), 0)
    return Population(
        coordinates=coords.astype(np.float32),
        centre=centre.astype(np.float32),
        orientation=rng.uniform(0, np.pi, n),
        # mouse V1 prefers ~0.04 cycles/degree; one model pixel is ~1.9 degrees
        wavelength=np.exp(rng.normal(np.log(11.0), 0.35, n)),
        sigma=np.exp(rng.normal(np.log(3.2), 0.25, n)),
        aspect=rng.uniform(0.6, 1.0, n),
        phase=rng.uniform(0, 2 * np.pi, n),
        is_complex=is_complex,
        direction_selective=ds.astype(np.int8),
        temporal_tau=rng.uniform(1.5, 3.0, n),
        running_gain=rng.normal(cells.running_gain, 0.2, n),
        pupil_gain=rng.normal(cells.pupil_gain, 0.15, n),
        mean_rate=np.exp(rng.normal(np.log(0.5), 0.6, n)),
        baseline=np.exp(rng.normal(np.log(0.15), 0.5, n)),
        exponent=rng.uniform(1.0, 1.8, n),
        noise=cells.noise_level * np.exp(rng.normal(0, 0.4, n)),
        reference=np.ones(n),
    )


def _offsets(pop: Population, grid: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Return each grid pixel's offset from each receptive-field centre, ``(n, h * w)`` twice."""
    h, w = grid
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    return yy.ravel()[None, :] - pop.centre[:, :1], xx.ravel()[None, :] - pop.centre[:, 1:]


def gabor_filters(pop: Population, grid: tuple[int, int]) -> np.ndarray:
    """Build the quadrature Gabor pair of every neuron on the model grid.

    Parameters
    ----------
    pop
        The neurons.
    grid
        (height, width) of the model grid.

    Returns
    -------
    numpy.ndarray
        ``(2, n, height * width)`` float32: even and odd filters, zero mean, unit norm.
    """
    h, w = grid
    dy, dx = _offsets(pop, grid)
    c, s = np.cos(pop.orientation)[:, None], np.sin(pop.orientation)[:, None]
    along = c * dx + s * dy
    across = -s * dx + c * dy
    sig = pop.sigma[:, None]
    envelope = np.exp(
        -(along**2) / (2 * sig**2) - (pop.aspect[:, None] * across) ** 2 / (2 * sig**2)
    )
    carrier = 2 * np.pi * along / pop.wavelength[:, None] + pop.phase[:, None]
    out = np.empty((2, pop.n, h * w), dtype=np.float32)
    for k, part in enumerate((np.cos(carrier), np.sin(carrier))):
        g = envelope * part
        g -= envelope * (g.sum(1, keepdims=True) / envelope.sum(1, keepdims=True))
        out[k] = g / np.linalg.norm(g, axis=1, keepdims=True)
    return out


def pooling_weights(pop: Population, grid: tuple[int, int]) -> np.ndarray:
    """Gaussian weights, twice the receptive field wide, that pool local contrast energy.

    Parameters
    ----------
    pop
        The neurons.
    grid
        (height, width) of the model grid.

    Returns
    -------
    numpy.ndarray
        ``(n, height * width)`` float32, each row summing to 1.
    """
    dy, dx = _offsets(pop, grid)
    d2 = dy**2 + dx**2
    weights = np.exp(-d2 / (2 * (2 * pop.sigma[:, None]) ** 2))
    return (weights / weights.sum(1, keepdims=True)).astype(np.float32)


def contrast_image(stimuli: np.ndarray) -> np.ndarray:
    """Convert 0..255 frames to contrast (luminance centred on mid-gray, in -0.5..0.5).

    Parameters
    ----------
    stimuli
        ``(..., H, W)`` values 0..255.

    Returns
    -------
    numpy.ndarray
        Same shape, float32.
    """
    return (np.asarray(stimuli, dtype=np.float32) / 255.0 - 0.5).astype(np.float32)


def local_contrast_energy(contrast: np.ndarray) -> np.ndarray:
    """Square of the high-passed contrast, the quantity normalisation pools.

    Parameters
    ----------
    contrast
        ``(B, H, W)`` contrast frames.

    Returns
    -------
    numpy.ndarray
        ``(B, H * W)`` float32.
    """
    blurred = ndimage.gaussian_filter(contrast, (0, CONTRAST_SIGMA, CONTRAST_SIGMA), mode="nearest")
    return np.square(contrast - blurred).reshape(len(contrast), -1)


def shift_frames(frames: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Translate every frame by its own (row, column) shift, bilinear, edges repeated.

    Parameters
    ----------
    frames
        ``(B, H, W)``.
    shifts
        ``(B, 2)`` shift in pixels; a positive value moves content down / right.

    Returns
    -------
    numpy.ndarray
        ``(B, H, W)`` float32.
    """
    b, h, w = frames.shape
    idx = np.arange(b, dtype=np.float32)[:, None, None]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    coords = [
        np.broadcast_to(idx, (b, h, w)),
        yy[None] - shifts[:, :1, None].astype(np.float32),
        xx[None] - shifts[:, 1:, None].astype(np.float32),
    ]
    return ndimage.map_coordinates(frames, coords, order=1, mode="nearest").astype(np.float32)


class ResponseModel:
    """Turn stimuli (already on the model grid) into expected responses of a population.

    Parameters
    ----------
    pop
        The neurons.
    grid
        (height, width) of the model grid.
    """

    def __init__(self, pop: Population, grid: tuple[int, int]) -> None:
        self.pop = pop
        self.grid = grid
        filters = gabor_filters(pop, grid)
        self.filters_t = np.ascontiguousarray(filters.reshape(2 * pop.n, -1).T)
        self.pool_t = np.ascontiguousarray(pooling_weights(pop, grid).T)

    def linear(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Quadrature filter outputs and local RMS contrast of each frame.

        Parameters
        ----------
        frames
            ``(B, H, W)`` values 0..255, already shifted for eye position.

        Returns
        -------
        even, odd : numpy.ndarray
            ``(B, n)`` filter outputs.
        rms : numpy.ndarray
            ``(B, n)`` local RMS contrast around each receptive field.
        """
        contrast = contrast_image(frames)
        flat = contrast.reshape(len(contrast), -1)
        out = flat @ self.filters_t
        n = self.pop.n
        rms = np.sqrt(local_contrast_energy(contrast) @ self.pool_t)
        return out[:, :n], out[:, n:], rms

    def drive(self, even: np.ndarray, odd: np.ndarray, rms: np.ndarray) -> np.ndarray:
        """Rectify (simple) or take the energy (complex), then normalise divisively.

        Parameters
        ----------
        even, odd
            Filter outputs ``(..., n)``.
        rms
            Local RMS contrast ``(..., n)``.

        Returns
        -------
        numpy.ndarray
            Normalised, non-negative drive ``(..., n)``.
        """
        simple = np.maximum(even, 0.0)
        energy = np.sqrt(np.square(even) + np.square(odd))
        response = np.where(self.pop.is_complex, energy, simple)
        # filters have unit norm over ~sigma^2 pixels; scale the pool to the same units
        scale = np.sqrt(2 * np.pi) * self.pop.sigma
        return response / (scale * (SEMI_SATURATION + rms))

    def rate(self, drive: np.ndarray, log_gain: np.ndarray | None = None) -> np.ndarray:
        """Apply the output nonlinearity, the response scale and the behaviour gain.

        Parameters
        ----------
        drive
            Normalised drive ``(..., n)``.
        log_gain
            Behavioural log-gain ``(..., n)``, or None for the gain at average behaviour.

        Returns
        -------
        numpy.ndarray
            Expected response in the units of ``data/responses``, float32.
        """
        pop = self.pop
        driven = np.power(drive / pop.reference, pop.exponent)
        driven = driven / (1.0 + driven / SATURATION)
        rate = pop.mean_rate * (pop.baseline + driven) / (pop.baseline + 1.0)
        if log_gain is not None:
            rate = rate * np.exp(log_gain)
        return rate.astype(np.float32)

    def calibrate(self, drive: np.ndarray) -> None:
        """Set each neuron's reference so that its driven rate averages 1 on these stimuli.

        Parameters
        ----------
        drive
            Normalised drive ``(samples, n)`` for a calibration set of natural stimuli.
        """
        pop = self.pop
        powered = np.mean(np.power(drive, pop.exponent), axis=0)
        pop.reference = np.power(np.maximum(powered, 1e-12), 1.0 / pop.exponent)


def behavior_log_gain(
    pop: Population | Mapping[str, np.ndarray], running_z: np.ndarray, pupil_z: np.ndarray
) -> np.ndarray:
    """Per-neuron multiplicative gain (as a log) from z-scored running and pupil.

    The gain is centred so that its average over the behaviour distribution is about 1.

    Parameters
    ----------
    pop
        The neurons, or their saved parameters (``neurons.npz`` of a truth folder) holding
        ``running_gain`` and ``pupil_gain``.
    running_z, pupil_z
        Z-scored running speed and pupil dilation, any shape ``S``.

    Returns
    -------
    numpy.ndarray
        ``S + (n,)`` log-gains, float32.
    """
    if isinstance(pop, Population):
        running_gain, pupil_gain = pop.running_gain, pop.pupil_gain
    else:
        running_gain, pupil_gain = pop["running_gain"], pop["pupil_gain"]
    g = running_z[..., None] * running_gain + pupil_z[..., None] * pupil_gain
    g = g - 0.5 * (running_gain**2 + pupil_gain**2)
    return g.astype(np.float32)
