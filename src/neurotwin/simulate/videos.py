"""Natural videos and the five out-of-domain stimulus classes of the 2023 bonus track.

Every video is ``(height, width, frames)`` float32 grayscale in 0..255 (frames on the last
axis, as on disk) and a deterministic function of the seed, its stimulus id and its class.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from neurotwin.simulate.stimuli import natural_image, rng_for, source_images

STREAM_VIDEO = 3
#: Class names as written to ``meta/trials/ood_class.npy``; ``natural`` is in-domain.
OOD_CLASSES = ("pink_noise", "gaussian_dots", "rdk", "gabor", "natural_static")
CLASSES = ("natural", *OOD_CLASSES)


def _smooth_path(rng: np.random.Generator, n: int, sd: float, timescale: float) -> np.ndarray:
    """Draw a smooth random trajectory: white noise low-passed twice, scaled to ``sd``."""
    x = ndimage.gaussian_filter1d(rng.standard_normal(n + 200), timescale, mode="wrap")[100:-100]
    x = np.cumsum(x)
    x = x - x.mean()
    return x / (x.std() + 1e-9) * sd


def natural_video(
    seed: int, stimulus_id: int, frames: int, height: int = 36, width: int = 64
) -> np.ndarray:
    """Render a natural image seen through a smoothly panning and zooming camera, with occluders.

    Parameters
    ----------
    seed
        The simulation seed.
    stimulus_id
        Which video.
    frames
        Number of frames.
    height, width
        Frame size.

    Returns
    -------
    numpy.ndarray
        ``(height, width, frames)`` float32 0..255.
    """
    rng = rng_for(seed, STREAM_VIDEO, 0, stimulus_id)
    pool, _ = source_images(seed)
    source = pool[int(rng.integers(len(pool)))]
    sh, sw = source.shape
    base = min(sh / height, sw / width) * rng.uniform(0.25, 0.5)
    zoom = np.exp(_smooth_path(rng, frames, 0.15, 15.0))
    cy = sh / 2 + _smooth_path(rng, frames, sh * 0.15, 10.0)
    cx = sw / 2 + _smooth_path(rng, frames, sw * 0.15, 10.0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    scale = (base * zoom)[:, None, None]
    rows = cy[:, None, None] + (yy - (height - 1) / 2)[None] * scale
    cols = cx[:, None, None] + (xx - (width - 1) / 2)[None] * scale
    video = ndimage.map_coordinates(source, [rows, cols], order=1, mode="mirror")
    # moving occluding objects (ellipses of uniform gray) crossing the view
    for _ in range(int(rng.integers(1, 4))):
        radius = rng.uniform(3, 10, 2)
        start = rng.uniform([0, 0], [height, width])
        velocity = rng.normal(0, 0.4, 2)
        t = np.arange(frames)[:, None, None]
        oy = start[0] + velocity[0] * t
        ox = start[1] + velocity[1] * t
        inside = ((yy[None] - oy) / radius[0]) ** 2 + ((xx[None] - ox) / radius[1]) ** 2 <= 1
        video = np.where(inside, rng.uniform(0.05, 0.95), video)
    contrast = rng.uniform(0.7, 1.3)
    video = np.clip((video - 0.5) * contrast + 0.5, 0, 1)
    return (video.transpose(1, 2, 0) * 255).astype(np.float32)


def pink_noise_video(rng: np.random.Generator, frames: int, height: int, width: int) -> np.ndarray:
    """Directional pink noise: oriented 1/f noise drifting along one direction per segment."""
    size = 128
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.fftfreq(size)[None, :]
    f = np.sqrt(fy**2 + fx**2)
    f[0, 0] = 1.0
    out = np.empty((frames, height, width))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    segment = 60
    for s0 in range(0, frames, segment):
        direction = rng.uniform(0, 2 * np.pi)
        theta = np.arctan2(fy, fx)
        bias = np.exp(2.0 * np.cos(2 * (theta - direction)))
        spectrum = bias / f * np.exp(2j * np.pi * rng.random((size, size)))
        spectrum[0, 0] = 0
        canvas = np.real(np.fft.ifft2(spectrum))
        canvas = (canvas - canvas.mean()) / canvas.std()
        speed = rng.uniform(0.5, 1.5)
        t = np.arange(s0, min(s0 + segment, frames)) - s0
        rows = yy[None] + speed * np.sin(direction) * t[:, None, None]
        cols = xx[None] + speed * np.cos(direction) * t[:, None, None]
        out[s0 : s0 + len(t)] = ndimage.map_coordinates(
            canvas, [rows, cols], order=1, mode="grid-wrap"
        )
    return 0.5 + 0.18 * out


def gaussian_dots_video(
    rng: np.random.Generator, frames: int, height: int, width: int
) -> np.ndarray:
    """Flashing Gaussian dots: one bright or dark blob every 10 frames at a random place."""
    out = np.full((frames, height, width), 0.5)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    for s0 in range(0, frames, 10):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        sign = rng.choice([-1.0, 1.0])
        sigma = rng.uniform(2, 5)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
        out[s0 : s0 + 6] += sign * 0.45 * blob
    return out


def rdk_video(rng: np.random.Generator, frames: int, height: int, width: int) -> np.ndarray:
    """Random dot kinematogram: dots, a fraction of which move coherently."""
    n_dots = 50
    out = np.empty((frames, height, width))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    pos = rng.uniform([0, 0], [height, width], (n_dots, 2))
    sign = rng.choice([-1.0, 1.0], n_dots)
    direction, coherence = rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 1.0)
    for t in range(frames):
        if t % 60 == 0:
            direction, coherence = rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 1.0)
        coherent = rng.random(n_dots) < coherence
        angles = np.where(coherent, direction, rng.uniform(0, 2 * np.pi, n_dots))
        pos += 1.0 * np.column_stack([np.sin(angles), np.cos(angles)])
        pos %= (height, width)
        d2 = (yy[None] - pos[:, :1, None]) ** 2 + (xx[None] - pos[:, 1:, None]) ** 2
        out[t] = 0.5 + 0.45 * np.clip((sign[:, None, None] * np.exp(-d2 / 1.5)).sum(0), -1, 1)
    return out


def gabor_video(rng: np.random.Generator, frames: int, height: int, width: int) -> np.ndarray:
    """Drifting Gabors: windowed gratings, new orientation and direction every 45 frames."""
    out = np.empty((frames, height, width))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    segment = 45
    for s0 in range(0, frames, segment):
        theta = rng.uniform(0, 2 * np.pi)
        wavelength = rng.uniform(6, 20)
        speed = rng.uniform(0.3, 1.0)
        cy, cx = rng.uniform(0.3, 0.7) * height, rng.uniform(0.3, 0.7) * width
        sigma = rng.uniform(6, 20)
        window = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
        along = np.cos(theta) * xx + np.sin(theta) * yy
        t = np.arange(s0, min(s0 + segment, frames)) - s0
        phase = 2 * np.pi * (along[None] - speed * t[:, None, None]) / wavelength
        out[s0 : s0 + len(t)] = 0.5 + 0.45 * window * np.cos(phase)
    return out


def natural_static_video(
    seed: int, rng: np.random.Generator, frames: int, height: int, width: int
) -> np.ndarray:
    """Show static natural images as a video: each held for 15 frames."""
    out = np.empty((frames, height, width))
    for s0 in range(0, frames, 15):
        image_id = int(rng.integers(2**40, 2**41))
        out[s0 : s0 + 15] = natural_image(seed, image_id, height, width) / 255.0
    return out


def make_video(
    seed: int, stimulus_id: int, cls: str, frames: int, height: int = 36, width: int = 64
) -> np.ndarray:
    """Render one stimulus of a class.

    Parameters
    ----------
    seed
        The simulation seed.
    stimulus_id
        Which stimulus (the same id and class always give the same video).
    cls
        One of :data:`CLASSES`.
    frames
        Number of frames.
    height, width
        Frame size.

    Returns
    -------
    numpy.ndarray
        ``(height, width, frames)`` float32 0..255.
    """
    if cls == "natural":
        return natural_video(seed, stimulus_id, frames, height, width)
    if cls not in OOD_CLASSES:
        raise ValueError(f"unknown stimulus class {cls!r}; expected one of {CLASSES}")
    rng = rng_for(seed, STREAM_VIDEO, 1 + OOD_CLASSES.index(cls), stimulus_id)
    if cls == "natural_static":
        video = natural_static_video(seed, rng, frames, height, width)
    else:
        render = {
            "pink_noise": pink_noise_video,
            "gaussian_dots": gaussian_dots_video,
            "rdk": rdk_video,
            "gabor": gabor_video,
        }[cls]
        video = render(rng, frames, height, width)
    return (np.clip(video, 0, 1).transpose(1, 2, 0) * 255).astype(np.float32)
