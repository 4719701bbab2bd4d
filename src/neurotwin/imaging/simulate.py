"""A simulated two-photon calcium-imaging movie whose noiseless signal is known.

The model, per frame ``t`` and pixel ``x`` (all in photons per frame):

- neurons: soma footprints ``A_n(x)`` (elliptical Gaussians, peak 1) at random places,
  each with a resting brightness ``b_n`` and a calcium trace ``c_n(t)``: Poisson spikes at
  a slowly varying rate convolved with a rise-and-decay kernel (GCaMP6-like: rise 50 ms,
  decay 400 ms), ``dF/F`` per spike drawn around :attr:`MovieConfig.spike_dff`;
- neuropil: two smooth spatial patterns with slow fluctuations (10 % of the background);
- background: a smooth spatial pattern;
- slow drift: the whole frame scaled by ``1 + drift * slow(t)`` (bleaching-like trend);
- noise: Poisson shot noise of the expected photon count plus Gaussian read noise.

``F(t, x) = gain * drift(t) * (bg(x) + neuropil(t, x) + sum_n A_n(x) b_n (1 + c_n(t)))`` is
the true signal; the movie is ``Poisson(F) + Normal(0, read_noise**2)``. The photon
``gain`` is solved so that the median over soma pixels (footprint above half its peak) of
``temporal SD of F / noise SD`` equals the requested SNR.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter, gaussian_filter1d

from neurotwin import atomic
from neurotwin.imaging.config import SUFFIXES, MovieConfig
from neurotwin.imaging.errors import MovieError
from neurotwin.imaging.movie import write_movie


@dataclass
class SimulatedMovie:
    """A simulated movie and its truth.

    Attributes
    ----------
    movie
        ``(frames, height, width)`` float32 noisy movie (photons).
    signal
        ``(frames, height, width)`` float32 noiseless movie (expected photons).
    footprints
        ``(neurons, height, width)`` float32 soma footprints (peak 1).
    calcium
        ``(neurons, frames)`` float32 dF/F traces.
    spikes
        ``(neurons, frames)`` int32 spike counts per frame.
    config
        How it was made.
    gain
        The photon gain that gives the requested SNR.
    rates_from
        The simulated recording whose rates drove the spikes (None: random rates).
    """

    movie: np.ndarray
    signal: np.ndarray
    footprints: np.ndarray
    calcium: np.ndarray
    spikes: np.ndarray
    config: MovieConfig
    gain: float
    rates_from: str | None = None


def _footprints(cfg: MovieConfig, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[: cfg.height, : cfg.width].astype(np.float32)
    out = np.empty((cfg.neurons, cfg.height, cfg.width), np.float32)
    for n in range(cfg.neurons):
        cy, cx = rng.uniform(0, cfg.height), rng.uniform(0, cfg.width)
        ry, rx = cfg.radius * rng.uniform(0.7, 1.3, size=2)
        angle = rng.uniform(0, np.pi)
        dy, dx = yy - cy, xx - cx
        a = (dy * np.cos(angle) + dx * np.sin(angle)) / ry
        b = (-dy * np.sin(angle) + dx * np.cos(angle)) / rx
        out[n] = np.exp(-(a**2 + b**2))
    out[out < 0.05] = 0
    return out


def _calcium(
    cfg: MovieConfig, rng: np.random.Generator, rates: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    if rates is None:
        slow = gaussian_filter1d(rng.standard_normal((cfg.neurons, cfg.frames)), cfg.fps, axis=1)
        slow /= slow.std(axis=1, keepdims=True) + 1e-12
        # a movie much shorter than the smoothing (a few fps) leaves an almost constant
        # series whose scaling explodes; the modulation is bounded at 8 SD (unreached in
        # movies of ordinary length, so their simulation is unchanged)
        rates = cfg.rate * np.exp(np.clip(slow, -8.0, 8.0) - 0.5)
    elif rates.shape != (cfg.neurons, cfg.frames):
        raise ValueError(f"rates of shape {rates.shape}, expected {(cfg.neurons, cfg.frames)}")
    spikes = rng.poisson(rates / cfg.fps).astype(np.int32)
    t = np.arange(int(5 * cfg.fps)) / cfg.fps
    kernel = np.exp(-t / 0.4) - np.exp(-t / 0.05)
    kernel /= kernel.max()
    amp = cfg.spike_dff * rng.lognormal(0, 0.3, size=(cfg.neurons, 1))
    calcium = np.stack([np.convolve(s, kernel)[: cfg.frames] for s in spikes]) * amp
    return calcium.astype(np.float32), spikes


def _smooth_field(cfg: MovieConfig, rng: np.random.Generator, scale: float) -> np.ndarray:
    field = gaussian_filter(rng.standard_normal((cfg.height, cfg.width)), scale)
    field = (field - field.min()) / (np.ptp(field) + 1e-12)
    return field.astype(np.float32)


def _snr(sd: np.ndarray, mean: np.ndarray, read_noise: float) -> float:
    return float(np.median(sd / np.sqrt(mean + read_noise**2)))


@dataclass
class _Model:
    """The noiseless parts of a simulated movie, from which any range of frames is built."""

    footprints: np.ndarray
    calcium: np.ndarray
    spikes: np.ndarray
    somata: np.ndarray
    background: np.ndarray
    patterns: np.ndarray
    neuropil: np.ndarray
    drift: np.ndarray
    mask: np.ndarray

    def signal(self, start: int, stop: int, gain: float = 1.0) -> np.ndarray:
        """Return the noiseless frames ``start:stop`` ``(n, height, width)`` float32.

        Each soma is added on the bounding box of its footprint only, so the cost grows with
        the somata's area, not with neurons x pixels.
        """
        n = stop - start
        out = np.einsum("kt,khw->thw", self.neuropil[:, start:stop], self.patterns)
        out += self.background
        for soma, trace in zip(self.somata, self.calcium[:, start:stop], strict=True):
            rows, cols = np.nonzero(soma.any(axis=1))[0], np.nonzero(soma.any(axis=0))[0]
            if len(rows) == 0:
                continue
            box = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
            out[:, box[0], box[1]] += (1 + trace)[:, None, None] * soma[box][None]
        out *= (self.drift[start:stop] * gain)[:, None, None]
        return out.astype(np.float32).reshape(n, *self.background.shape)


def _model(cfg: MovieConfig, rng: np.random.Generator, rates: np.ndarray | None = None) -> _Model:
    footprints = _footprints(cfg, rng)
    calcium, spikes = _calcium(cfg, rng, rates)
    brightness = rng.lognormal(0, 0.3, cfg.neurons).astype(np.float32)
    background = 0.3 + 0.2 * _smooth_field(cfg, rng, cfg.height / 6)
    patterns = np.stack([_smooth_field(cfg, rng, cfg.height / 8) for _ in range(2)])
    pil = gaussian_filter1d(rng.standard_normal((2, cfg.frames)), 2 * cfg.fps, axis=1)
    pil = 0.1 * 0.3 * pil / (pil.std(axis=1, keepdims=True) + 1e-12)
    # as for the rates: a movie not much longer than the smoothing (2 s) leaves an almost
    # constant series whose scaling explodes (up to 350 SD at 120 frames; negative photon
    # rates at 10). Bounded at 8 SD: in 1,000 seeds, movies of 500 frames or more at 30 Hz
    # never reached it, so their simulation is unchanged.
    pil = np.clip(pil, -8 * 0.03, 8 * 0.03)
    time_axis = np.linspace(0, 1, cfg.frames, dtype=np.float32)
    drift = 1 + cfg.drift * (np.sin(2 * np.pi * time_axis * 0.7) - time_axis)
    mask = footprints.max(axis=0) > 0.5
    if not mask.any():
        mask = np.ones(footprints.shape[1:], bool)
    somata = footprints * brightness[:, None, None]
    return _Model(footprints, calcium, spikes, somata, background, patterns, pil, drift, mask)


def _solve_gain(signal: np.ndarray, mask: np.ndarray, cfg: MovieConfig) -> float:
    soma = signal[:, mask]
    sd, mean = soma.std(axis=0), soma.mean(axis=0)
    low, high = 1e-3, 1e7
    if not soma.size or _snr(high * sd, high * mean, cfg.read_noise) < cfg.snr:
        raise MovieError(
            f"a simulated {cfg.height}x{cfg.width} movie of {cfg.frames} frames cannot reach SNR "
            f"{cfg.snr}: its {int(mask.sum())} soma pixels hold too little varying signal in "
            "the frames the gain is set on; use a larger field of view, more neurons or more "
            "frames"
        )
    for _ in range(60):  # bisection on log(gain): the SNR grows with the gain
        gain = np.sqrt(low * high)
        snr = _snr(gain * sd, gain * mean, cfg.read_noise)
        low, high = (gain, high) if snr < cfg.snr else (low, gain)
    return float(np.sqrt(low * high))


def _check_fits_in_memory(cfg: MovieConfig) -> None:
    """Refuse an in-memory simulation larger than the machine's memory, before allocating."""
    need = 24 * cfg.frames * cfg.height * cfg.width  # movie, signal and the Poisson draw
    try:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not on this system
        return
    if need > have:
        raise MovieError(
            f"a simulated {cfg.height}x{cfg.width} movie of {cfg.frames} frames needs about "
            f"{need / 2**30:.0f} GiB in memory, more than this machine's {have / 2**30:.0f} "
            "GiB; write it to disk in chunks with neurotwin.imaging.simulate."
            "write_streamed_movie, or make it smaller"
        )


def simulate_movie(
    config: MovieConfig | None = None, *, rates: np.ndarray | None = None, **overrides: Any
) -> SimulatedMovie:
    """Simulate a two-photon movie with known signal (model in the module text).

    Parameters
    ----------
    config
        Size and physics; :class:`MovieConfig` defaults when None.
    rates
        ``(neurons, frames)`` firing rates (spikes/s) to draw the spikes from, e.g. the
        in-silico mouse's (:func:`rates_from_recording`); slowly varying random rates of
        mean :attr:`MovieConfig.rate` when None.
    **overrides
        Fields of :class:`MovieConfig` to replace.

    Returns
    -------
    SimulatedMovie
        Noisy movie, noiseless signal, footprints, calcium traces, spikes.
    """
    cfg = MovieConfig(**{**asdict(config or MovieConfig()), **overrides})
    _check_fits_in_memory(cfg)
    rng = np.random.default_rng(cfg.seed)
    model = _model(cfg, rng, rates)
    signal = model.signal(0, cfg.frames)
    gain = _solve_gain(signal, model.mask, cfg)
    signal *= gain
    movie = rng.poisson(signal).astype(np.float32)
    movie += rng.normal(0, cfg.read_noise, movie.shape).astype(np.float32)
    return SimulatedMovie(movie, signal, model.footprints, model.calcium, model.spikes, cfg, gain)


def rates_from_recording(
    recording: str | os.PathLike[str], neurons: int, frames: int, fps: float, mean_rate: float
) -> np.ndarray:
    """Return firing rates for a movie's neurons from a simulated mouse's true rates.

    The in-silico mouse (:mod:`neurotwin.simulate`) keeps its noiseless rates in the truth
    folder beside each recording (``rates.npy``). Video recordings give ``(trials, neurons,
    frames)`` at the recording's frame rate: the trials are put end to end (each up to its
    length) and resampled to ``fps``. Static recordings give ``(trials, neurons)``, one
    value per image: each image's rate is held for 0.5 s (the image's presentation) in turn.
    The series is repeated when shorter than the movie; the first ``neurons`` neurons are
    used (in turn when the mouse has fewer); rates are scaled so their mean is
    ``mean_rate`` spikes/s, keeping each neuron's tuning and the differences between them.

    Parameters
    ----------
    recording
        A simulated recording (folder or zip) or its ``.truth`` folder.
    neurons, frames
        The movie's neurons and frames.
    fps
        The movie's frame rate (Hz).
    mean_rate
        Mean firing rate over neurons and frames (spikes/s).

    Returns
    -------
    numpy.ndarray
        ``(neurons, frames)`` float64 rates, non-negative.

    Raises
    ------
    MovieError
        When the folder is not a simulated recording's truth or its rates are unusable.
    """
    from neurotwin.simulate.truth import load_simulation

    path = Path(recording)
    truth = path if path.name.endswith(".truth") else path.with_name(path.name + ".truth")
    if path.suffix == ".zip":
        truth = path.with_suffix(".truth")
    try:
        meta = load_simulation(truth)
        rates = np.load(truth / "rates.npy", allow_pickle=False).astype(np.float64)
    except (OSError, ValueError) as exc:
        raise MovieError(f"{recording}: not a simulated recording with its truth ({exc})") from exc
    if meta.get("kind") == "video" and rates.ndim == 3:
        lengths = np.load(truth / "lengths.npy") if (truth / "lengths.npy").is_file() else None
        trials = [
            r[:, : int(lengths[i])] if lengths is not None else r for i, r in enumerate(rates)
        ]
        series = np.concatenate(trials, axis=1)  # (neurons, recording frames)
        source_fps = float(meta.get("config", {}).get("fps", 30))
        steps = max(2, round(series.shape[1] * fps / source_fps))
        old = np.arange(series.shape[1]) / source_fps
        new = np.arange(steps) / fps
        series = np.stack([np.interp(new, old, row) for row in series])
    elif rates.ndim == 2:
        hold = max(1, round(0.5 * fps))
        series = np.repeat(rates.T, hold, axis=1)  # (neurons, trials * hold)
    else:
        raise MovieError(f"{truth / 'rates.npy'}: rates of shape {rates.shape} not understood")
    series = np.nan_to_num(np.clip(series, 0, None))
    if series.mean() <= 0:
        raise MovieError(f"{truth / 'rates.npy'}: the rates are all zero")
    rows = np.arange(neurons) % series.shape[0]
    cols = np.arange(frames) % series.shape[1]
    out = series[rows][:, cols]
    return out * (mean_rate / max(out.mean(), 1e-12))


@dataclass
class StreamedMovie:
    """A simulated movie written to disk in chunks, with its truth rebuilt on demand.

    Attributes
    ----------
    path
        The ``.npy`` movie (``frames x height x width`` float32).
    config
        How it was made.
    gain
        The photon gain (solved on the first chunk).
    mask
        ``(height, width)`` soma pixels (footprint above half its peak).
    """

    path: Path
    config: MovieConfig
    gain: float
    mask: np.ndarray
    model: _Model

    def signal(self, start: int, stop: int) -> np.ndarray:
        """Return the noiseless frames ``start:stop`` (float32, photons)."""
        return self.model.signal(start, stop, self.gain)


def write_streamed_movie(
    path: str | os.PathLike[str],
    config: MovieConfig | None = None,
    chunk: int = 500,
    **overrides: Any,
) -> StreamedMovie:
    """Simulate a movie chunk by chunk straight into a ``.npy`` file (never whole in memory).

    The same neurons, neuropil and drift run through the whole movie; only the traces
    (``neurons x frames``) are held in memory. The gain is solved on the first ``chunk``
    frames, so the SNR is the requested one there and about it elsewhere. The file is
    written under a temporary name and renamed into place when complete.

    Parameters
    ----------
    path
        Where to write the ``.npy`` movie.
    config
        Size and physics; :class:`MovieConfig` defaults when None.
    chunk
        Frames simulated at a time.
    **overrides
        Fields of :class:`MovieConfig` to replace.

    Returns
    -------
    StreamedMovie
        The file and what rebuilds its true signal.
    """
    cfg = MovieConfig(**{**asdict(config or MovieConfig()), **overrides})
    rng = np.random.default_rng(cfg.seed)
    model = _model(cfg, rng)
    gain = _solve_gain(model.signal(0, min(chunk, cfg.frames)), model.mask, cfg)
    path = Path(path)
    shape = (cfg.frames, cfg.height, cfg.width)
    header = {"descr": "<f4", "fortran_order": False, "shape": shape}
    with atomic.atomic_path(path) as tmp, open(tmp, "wb") as out:  # written, not mapped
        np.lib.format.write_array_header_2_0(out, header)
        for a in range(0, cfg.frames, chunk):
            b = min(a + chunk, cfg.frames)
            frames = rng.poisson(model.signal(a, b, gain)).astype("<f4")
            frames += rng.normal(0, cfg.read_noise, frames.shape).astype(np.float32)
            out.write(frames.tobytes())
    return StreamedMovie(path, cfg, gain, model.mask, model)


def write_simulated_movie(
    sim: SimulatedMovie, folder: str | os.PathLike[str], fmt: str = "npy", overwrite: bool = False
) -> tuple[Path, Path]:
    """Write ``folder/movie.{fmt}`` and its truth ``folder/movie.truth/``, each atomically.

    The truth folder holds ``signal.npy`` (noiseless movie), ``footprints.npy``,
    ``calcium.npy``, ``spikes.npy`` and ``simulation.json`` (config and gain).

    Parameters
    ----------
    sim
        The simulation.
    folder
        Where to write.
    fmt
        Movie format: ``npy``, ``tif``, ``h5``, ``bin`` (int16, suite2p's ``data.bin``
        layout) or ``zarr``.
    overwrite
        Replace an existing movie.

    Returns
    -------
    tuple of pathlib.Path
        The movie file and the truth folder.

    Raises
    ------
    FileExistsError
        When the movie exists and ``overwrite`` is False.
    """
    folder = Path(folder)
    if "." + fmt not in SUFFIXES:
        raise ValueError(f"unknown format {fmt!r}")
    movie_path = folder / f"movie.{fmt}"
    truth = folder / "movie.truth"
    if (movie_path.exists() or truth.exists()) and not overwrite:
        error = FileExistsError(f"{movie_path} exists (use overwrite)")
        error.filename = str(movie_path)
        raise error
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".movie.truth.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        np.save(tmp / "signal.npy", sim.signal)
        np.save(tmp / "footprints.npy", sim.footprints)
        np.save(tmp / "calcium.npy", sim.calcium)
        np.save(tmp / "spikes.npy", sim.spikes)
        meta = {"config": asdict(sim.config), "gain": sim.gain, "format": fmt,
                "rates_from": sim.rates_from}  # fmt: skip
        (tmp / "simulation.json").write_text(json.dumps(meta, indent=2) + "\n")
        atomic.publish(tmp, truth)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    data = (
        np.clip(np.round(sim.movie), -32768, 32767).astype(np.int16) if fmt == "bin" else sim.movie
    )
    if movie_path.is_dir():
        shutil.rmtree(movie_path)
    write_movie(movie_path, data)
    return movie_path, truth
