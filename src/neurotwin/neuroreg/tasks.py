"""Classification tasks that work offline: generated shapes, and CIFAR-10 from a user's folder.

:func:`shapes_dataset` draws ten classes of shapes (disk, ring, square, frame, triangle,
plus, ellipse, star, hexagon, crescent) with nuisance variation: position, size, rotation,
contrast and polarity, mean luminance and a 1/f background texture. Shapes of varying contrast
on texture make the task hard enough that a small ResNet stays well below perfect
accuracy and pixel noise hurts it.

:func:`read_cifar10` reads CIFAR-10's binary batches (``data_batch_1.bin`` ..
``data_batch_5.bin``, ``test_batch.bin``; each record one label byte and 3,072 bytes of
red, green and blue 32 x 32 planes), converts to grayscale and resizes to a twin's size.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from neurotwin.neuroreg.errors import NeuroregError

#: Class names of :func:`shapes_dataset`, in label order.
SHAPES = (
    "disk", "ring", "square", "frame", "triangle",
    "plus", "ellipse", "star", "hexagon", "crescent",
)  # fmt: skip
#: Files of CIFAR-10's binary release, by split.
CIFAR_FILES = {
    "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
    "test": ("test_batch.bin",),
}
CIFAR_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
CIFAR_RECORD = 1 + 3 * 32 * 32
#: Shapes are drawn at this many samples per pixel along each axis, then averaged.
SUPERSAMPLE = 2


def _polygon(u: np.ndarray, v: np.ndarray, sides: int, apothem: float) -> np.ndarray:
    inside = np.ones(u.shape, dtype=bool)
    for k in range(sides):
        angle = 2 * np.pi * k / sides
        inside &= u * np.cos(angle) + v * np.sin(angle) < apothem
    return inside


def shape_mask(kind: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside-mask of a unit-size shape at coordinates ``(u, v)`` (radius 1 around 0).

    Parameters
    ----------
    kind
        One of :data:`SHAPES`.
    u, v
        Coordinates in units of the shape's radius, already rotated.

    Returns
    -------
    numpy.ndarray
        Boolean mask of the same shape.
    """
    rho = np.hypot(u, v)
    box = np.maximum(np.abs(u), np.abs(v))
    masks = {
        "disk": lambda: rho < 1,
        "ring": lambda: (rho < 1) & (rho > 0.6),
        "square": lambda: box < 0.8,
        "frame": lambda: (box < 0.85) & (box > 0.5),
        "triangle": lambda: _polygon(u, v, 3, 0.55),
        "plus": lambda: (
            ((np.abs(u) < 0.3) & (np.abs(v) < 1)) | ((np.abs(v) < 0.3) & (np.abs(u) < 1))
        ),
        "ellipse": lambda: u**2 + (v / 0.45) ** 2 < 1,
        "star": lambda: rho < 0.55 + 0.45 * np.cos(5 * np.arctan2(v, u)),
        "hexagon": lambda: _polygon(u, v, 6, 0.82),
        "crescent": lambda: (rho < 1) & (np.hypot(u - 0.5, v) > 0.8),
    }
    if kind not in masks:
        raise NeuroregError(f"unknown shape {kind!r}; shapes: {', '.join(SHAPES)}")
    out: np.ndarray = masks[kind]()
    return out


def pink_noise(rng: np.random.Generator, hw: tuple[int, int], exponent: float = 1.0) -> np.ndarray:
    """Gaussian noise with a ``1 / f^exponent`` amplitude spectrum, unit standard deviation."""
    fy = np.fft.fftfreq(hw[0])[:, None]
    fx = np.fft.rfftfreq(hw[1])[None, :]
    f = np.hypot(fy, fx)
    f[0, 0] = 1.0
    spectrum = (rng.normal(size=f.shape) + 1j * rng.normal(size=f.shape)) / f**exponent
    spectrum[0, 0] = 0.0
    field = np.fft.irfft2(spectrum, s=hw)
    out: np.ndarray = field / max(float(field.std()), 1e-12)
    return out


def shapes_dataset(
    n: int,
    hw: tuple[int, int] = (36, 64),
    seed: int = 0,
    *,
    background_sd: float = 0.06,
    contrast: tuple[float, float] = (0.25, 0.5),
    radius: tuple[float, float] = (0.22, 0.38),
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` images of the ten-class shapes task.

    Each image: mean luminance 0.5 +- 0.1, a 1/f texture of standard deviation
    ``background_sd``, and one shape of the class (radius a fraction ``radius`` of the
    height, anywhere it fits, any rotation) brighter or darker than the background by a
    contrast drawn from ``contrast``. Pixels in [0, 1] are stored as uint8.

    Parameters
    ----------
    n
        Number of images (classes are balanced, in random order).
    hw
        Image height and width (a twin's input size, e.g. 36 x 64).
    seed
        Everything is a function of the seed.
    background_sd
        Standard deviation of the background texture (pixel units of [0, 1]).
    contrast
        Range of the shape's contrast against the background.
    radius
        Range of the shape's radius as a fraction of the image height.

    Returns
    -------
    images : numpy.ndarray
        ``(n, H, W)`` uint8.
    labels : numpy.ndarray
        ``(n,)`` int64 indices into :data:`SHAPES`.
    """
    if n < 1 or min(hw) < 8:
        raise NeuroregError(f"need n >= 1 images of at least 8x8 pixels, got n={n}, {hw}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % len(SHAPES)).astype(np.int64)
    h, w = hw
    s = SUPERSAMPLE
    yy, xx = np.mgrid[0 : h * s, 0 : w * s].astype(np.float64)
    yy, xx = (yy + 0.5) / s, (xx + 0.5) / s
    images = np.empty((n, h, w), dtype=np.uint8)
    for i, label in enumerate(labels):
        size = rng.uniform(*radius) * h
        cy = rng.uniform(size, h - size)
        cx = rng.uniform(size, w - size)
        angle = rng.uniform(0, 2 * np.pi)
        dy, dx = (yy - cy) / size, (xx - cx) / size
        u = dx * np.cos(angle) + dy * np.sin(angle)
        v = -dx * np.sin(angle) + dy * np.cos(angle)
        mask = shape_mask(SHAPES[label], u, v).astype(np.float64)
        mask = mask.reshape(h, s, w, s).mean(axis=(1, 3))
        sign = rng.choice((-1.0, 1.0))
        image = 0.5 + rng.uniform(-0.1, 0.1) + background_sd * pink_noise(rng, hw)
        image += sign * rng.uniform(*contrast) * mask
        images[i] = np.clip(np.rint(np.clip(image, 0, 1) * 255), 0, 255).astype(np.uint8)
    return images, labels


def cifar10_folder(folder: str | os.PathLike[str]) -> Path:
    """Find CIFAR-10's binary batches in ``folder`` (or its ``cifar-10-batches-bin``).

    Raises
    ------
    NeuroregError
        Naming the folder and the missing files when it does not hold them.
    """
    root = Path(folder)
    names = [name for files in CIFAR_FILES.values() for name in files]
    for candidate in (root, root / "cifar-10-batches-bin"):
        if all((candidate / name).is_file() for name in names):
            return candidate
    missing = [name for name in names if not (root / name).is_file()]
    raise NeuroregError(
        f"{root} does not hold CIFAR-10's binary batches (missing {', '.join(missing)}); "
        "expected data_batch_1.bin .. data_batch_5.bin and test_batch.bin, e.g. the "
        "cifar-10-batches-bin folder of cifar-10-binary.tar.gz"
    )


def read_cifar10(
    folder: str | os.PathLike[str],
    split: str = "train",
    hw: tuple[int, int] = (36, 64),
    limit: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Read CIFAR-10 from its binary batches, in grayscale at a twin's size.

    Colour is converted to luminance (``skimage.color.rgb2gray``) and each 32 x 32 image
    resized (anti-aliased, bilinear; the aspect ratio follows ``hw``).

    Parameters
    ----------
    folder
        A folder holding ``data_batch_1.bin`` .. ``data_batch_5.bin`` and
        ``test_batch.bin`` (or their ``cifar-10-batches-bin`` folder).
    split
        ``"train"`` (the five data batches) or ``"test"``.
    hw
        Output height and width.
    limit
        Read at most this many images (from the first batches).

    Returns
    -------
    images : numpy.ndarray
        ``(N, H, W)`` uint8.
    labels : numpy.ndarray
        ``(N,)`` int64 in 0..9 (:data:`CIFAR_CLASSES`).

    Raises
    ------
    NeuroregError
        When the folder lacks a batch, a file's size is not whole records, or a label is
        out of range.
    """
    from skimage.color import rgb2gray
    from skimage.transform import resize

    if split not in CIFAR_FILES:
        raise NeuroregError(f"split must be 'train' or 'test', got {split!r}")
    root = cifar10_folder(folder)
    records = []
    for name in CIFAR_FILES[split]:
        path = root / name
        raw = np.fromfile(path, dtype=np.uint8)
        if raw.size == 0 or raw.size % CIFAR_RECORD:
            raise NeuroregError(
                f"{path}: {raw.size} bytes is not a whole number of CIFAR-10 records "
                f"({CIFAR_RECORD} bytes each)"
            )
        records.append(raw.reshape(-1, CIFAR_RECORD))
        if limit is not None and sum(len(r) for r in records) >= limit:
            break
    data = np.concatenate(records)[:limit]
    labels = data[:, 0].astype(np.int64)
    if (labels > 9).any():
        raise NeuroregError(f"{root}: labels above 9 in the {split} batches (not CIFAR-10)")
    rgb = data[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    gray = rgb2gray(rgb)  # (N, 32, 32) in [0, 1]
    small = resize(gray, (len(gray), *hw), order=1, anti_aliasing=True)
    images = np.clip(np.rint(small * 255), 0, 255).astype(np.uint8)
    return images, labels
