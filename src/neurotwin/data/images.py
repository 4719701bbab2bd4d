"""Resizing image and video stacks to a model's input size, as the loaders do.

One place for the two resizers the caches, the saved input normalisation and neural
regularisation use, so that every path from raw pixels to a model sees the same numbers.
"""

from __future__ import annotations

import numpy as np
from skimage.transform import resize


def resize_images(block: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Resize the last two axes of a stack: anti-aliased, bilinear, values preserved.

    Parameters
    ----------
    block
        ``(..., H, W)`` images or frames, any real dtype.
    hw
        The target ``(height, width)`` in pixels.

    Returns
    -------
    numpy.ndarray
        ``(..., *hw)`` float32.
    """
    shape = (*block.shape[:-2], *hw)
    return resize(block, shape, order=1, anti_aliasing=True, preserve_range=True).astype(np.float32)


def kit_rescale(block: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Resize each image of a ``(k, 1, H, W)`` stack as the 2022 kit's ``ScaleInputs`` does.

    The kit calls ``skimage.transform.rescale(image, scale, mode="reflect",
    anti_aliasing=False, clip=True, preserve_range=True)`` on each ``(1, H, W)`` image;
    ``rescale`` resizes to ``round(scale * shape)`` (at least 1), which is ``(1, *hw)``.

    Parameters
    ----------
    block
        ``(k, 1, H, W)`` images.
    hw
        The target ``(height, width)`` in pixels.

    Returns
    -------
    numpy.ndarray
        ``(k, 1, *hw)`` float32.
    """
    out = np.empty((*block.shape[:-2], *hw), dtype=np.float32)
    for i, image in enumerate(block):
        out[i] = resize(
            image,
            (image.shape[0], *hw),
            order=1,
            mode="reflect",
            anti_aliasing=False,
            clip=True,
            preserve_range=True,
        )
    return out


def to_uint8(images: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Resize ``(N, H, W)`` images like the loaders, then round and clip to uint8 pixels.

    Parameters
    ----------
    images
        ``(N, H, W)`` pixel values in 0..255.
    hw
        The target ``(height, width)``; images already that size are only rounded.

    Returns
    -------
    numpy.ndarray
        ``(N, *hw)`` uint8.
    """
    out = images
    if images.shape[-2:] != hw:  # rounded from float64, not from resize_images' float32
        shape = (*images.shape[:-2], *hw)
        out = resize(images, shape, order=1, anti_aliasing=True, preserve_range=True)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
