"""Natural images generated offline: photograph crops and dead-leaves images.

Crops are taken from scikit-image's bundled photographs and from dead-leaves images with
natural 1/f statistics.

Every image is a deterministic function of the seed and its stimulus id, so the same id
shows the same picture to every simulated mouse (as in SENSORIUM, where all mice of a
release see the same test images).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import ndimage

#: Photographs bundled in the scikit-image wheel (no download); others fall back to
#: dead-leaves canvases so the pool never depends on the network.
PHOTOGRAPHS = (
    "astronaut",
    "camera",
    "chelsea",
    "coffee",
    "rocket",
    "brick",
    "grass",
    "gravel",
    "moon",
    "coins",
    "clock",
    "page",
)

#: Dead-leaves canvases added to the pool of source images.
DEAD_LEAVES = 8

#: Stream identifiers keep the random streams of different purposes independent.
STREAM_IMAGE = 1
STREAM_SOURCE = 2


def rng_for(seed: int, *keys: int) -> np.random.Generator:
    """Return a generator determined by the seed and integer keys.

    Parameters
    ----------
    seed
        The simulation seed.
    *keys
        Purpose, mouse, trial ... any non-negative integers.

    Returns
    -------
    numpy.random.Generator
        An independent stream for that combination.
    """
    return np.random.default_rng([seed, *keys])


def dead_leaves(rng: np.random.Generator, size: int = 512, n_leaves: int = 3000) -> np.ndarray:
    """Render a dead-leaves image: occluding discs with power-law radii (1/f spectrum).

    Parameters
    ----------
    rng
        Random generator.
    size
        Side of the square canvas in pixels.
    n_leaves
        Number of discs dropped (later ones lie underneath earlier ones).

    Returns
    -------
    numpy.ndarray
        ``(size, size)`` float32 in 0..1.
    """
    rmin, rmax = 2.0, size / 4
    # radii with density ~ r^-3 (scale invariance) by inverse transform sampling
    u = rng.random(n_leaves)
    radii = 1.0 / np.sqrt(1 / rmin**2 - u * (1 / rmin**2 - 1 / rmax**2))
    centres = rng.random((n_leaves, 2)) * size
    values = rng.beta(2, 2, n_leaves)
    canvas = np.full((size, size), np.nan, dtype=np.float32)
    yy, xx = np.mgrid[0:size, 0:size]
    for r, (cy, cx), v in zip(radii, centres, values, strict=True):
        y0, y1 = int(max(cy - r, 0)), int(min(cy + r + 1, size))
        x0, x1 = int(max(cx - r, 0)), int(min(cx + r + 1, size))
        if y0 >= y1 or x0 >= x1:
            continue
        patch = canvas[y0:y1, x0:x1]
        inside = (yy[y0:y1, x0:x1] - cy) ** 2 + (xx[y0:y1, x0:x1] - cx) ** 2 <= r * r
        patch[inside & np.isnan(patch)] = v
    canvas[np.isnan(canvas)] = float(rng.random())
    return ndimage.gaussian_filter(canvas, 0.7)


def _load_photograph(name: str) -> np.ndarray | None:
    """Load one bundled photograph as grayscale 0..1, or None when it is unavailable."""
    try:
        import skimage.data
        from skimage.color import rgb2gray

        image = np.asarray(getattr(skimage.data, name)())
    except Exception:
        return None
    if image.ndim == 3:
        image = rgb2gray(image[..., :3])
    image = image.astype(np.float32)
    if image.max() > 1.5:
        image /= 255.0
    return image


@lru_cache(maxsize=4)
def source_images(seed: int) -> tuple[tuple[np.ndarray, ...], tuple[str, ...]]:
    """Return the pool of source images that crops are taken from, and their names.

    Parameters
    ----------
    seed
        The simulation seed (fixes the dead-leaves canvases).

    Returns
    -------
    images : tuple of numpy.ndarray
        Grayscale float32 images in 0..1, each contrast-normalised.
    names : tuple of str
        ``skimage:<name>`` or ``dead_leaves:<k>`` for each.
    """
    images: list[np.ndarray] = []
    names: list[str] = []
    for k, name in enumerate(PHOTOGRAPHS):
        photo = _load_photograph(name)
        if photo is None:
            photo = dead_leaves(rng_for(seed, STREAM_SOURCE, 1000 + k))
            name = f"dead_leaves:{1000 + k}"
        else:
            name = f"skimage:{name}"
        images.append(photo)
        names.append(name)
    for k in range(DEAD_LEAVES):
        images.append(dead_leaves(rng_for(seed, STREAM_SOURCE, k)))
        names.append(f"dead_leaves:{k}")
    return tuple(_equalise(im) for im in images), tuple(names)


def _equalise(image: np.ndarray) -> np.ndarray:
    """Bring an image to mean 0.5 and a common RMS contrast, clipped to 0..1."""
    image = image - image.mean()
    image = image / (image.std() + 1e-6) * 0.2 + 0.5
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def crop_coordinates(
    rng: np.random.Generator, source_shape: tuple[int, int], height: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Draw a random crop (position, scale, flip, small rotation) as sampling coordinates.

    Parameters
    ----------
    rng
        Random generator.
    source_shape
        Shape of the source image.
    height, width
        Output size.

    Returns
    -------
    rows, cols : numpy.ndarray
        ``(height, width)`` coordinates into the source image.
    """
    sh, sw = source_shape
    # scale: source pixels per output pixel; the crop covers 30%..100% of the limiting side
    full = min(sh / height, sw / width)
    scale = full * rng.uniform(0.3, 1.0)
    angle = rng.normal(0.0, 0.1)
    flip = -1.0 if rng.random() < 0.5 else 1.0
    half_h, half_w = height * scale / 2, width * scale / 2
    reach = np.abs(np.cos(angle)) * np.array([half_h, half_w]) + np.abs(np.sin(angle)) * np.array(
        [half_w, half_h]
    )
    cy = rng.uniform(min(reach[0], sh / 2), max(sh - reach[0], sh / 2))
    cx = rng.uniform(min(reach[1], sw / 2), max(sw - reach[1], sw / 2))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    yy = (yy - (height - 1) / 2) * scale
    xx = (xx - (width - 1) / 2) * scale * flip
    c, s = np.cos(angle), np.sin(angle)
    return cy + c * yy - s * xx, cx + s * yy + c * xx


def natural_image(seed: int, stimulus_id: int, height: int = 144, width: int = 256) -> np.ndarray:
    """Render natural image ``stimulus_id``: a random crop of a source image.

    Parameters
    ----------
    seed
        The simulation seed.
    stimulus_id
        Which image; the same id always gives the same image.
    height, width
        Output size.

    Returns
    -------
    numpy.ndarray
        ``(height, width)`` float32 grayscale in 0..255.
    """
    rng = rng_for(seed, STREAM_IMAGE, stimulus_id)
    pool, _ = source_images(seed)
    source = pool[int(rng.integers(len(pool)))]
    rows, cols = crop_coordinates(rng, source.shape, height, width)
    image = ndimage.map_coordinates(source, [rows, cols], order=1, mode="reflect")
    # per-image contrast and luminance jitter, like a photograph set
    contrast = rng.uniform(0.6, 1.4)
    image = (image - 0.5) * contrast + 0.5 + rng.normal(0.0, 0.05)
    return (np.clip(image, 0.0, 1.0) * 255.0).astype(np.float32)


def downsample(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """Block-average images to a smaller grid whose size divides theirs.

    Parameters
    ----------
    images
        ``(..., H, W)``.
    height, width
        Target size; ``H`` and ``W`` must be multiples of it.

    Returns
    -------
    numpy.ndarray
        ``(..., height, width)`` float32.
    """
    *lead, h, w = images.shape
    fy, fx = h // height, w // width
    blocks = images.reshape(*lead, height, fy, width, fx)
    return blocks.mean(axis=(-3, -1), dtype=np.float32)
