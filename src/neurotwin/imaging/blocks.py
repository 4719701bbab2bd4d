"""Overlapping blocks in four tilings and the weights that blend their reconstructions.

PMD is "4x overcomplete": the field of view is cut into a grid of blocks, and into the same
grid shifted by half a block down, right, and down-right. Every block's reconstruction is
weighted by a pyramid that peaks at its centre (``1 + min(i, j)``, ``i`` and ``j`` the
distances in pixels to the nearest horizontal and vertical edge), and the weights of all
blocks are divided by their sum at each pixel, so they add up to exactly one everywhere and
block seams do not show.

Edge pieces are kept; a trailing piece shorter than a quarter block is dropped, which leaves
no pixel uncovered because the tiling shifted by half a block then has a long piece there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Offsets of the four tilings, in half blocks (rows, columns).
TILINGS = ((0, 0), (1, 0), (0, 1), (1, 1))


@dataclass(frozen=True)
class Block:
    """One block: which tiling, its top-left corner and its size, in pixels."""

    tiling: int
    row: int
    col: int
    height: int
    width: int

    @property
    def pixels(self) -> int:
        """Number of pixels."""
        return self.height * self.width

    @property
    def slices(self) -> tuple[slice, slice]:
        """Row and column slices of the block in the frame."""
        return slice(self.row, self.row + self.height), slice(self.col, self.col + self.width)


def _segments(length: int, size: int, offset: int) -> list[tuple[int, int]]:
    starts = ([0] if offset else []) + list(range(offset, length, size))
    bounds = [(a, min(b, length)) for a, b in zip(starts, [*starts[1:], length], strict=True)]
    bounds = [(a, b) for a, b in bounds if b > a]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < max(2, size // 4):
        bounds.pop()
    return bounds


def make_blocks(height: int, width: int, block: tuple[int, int]) -> list[Block]:
    """Return the blocks of the four tilings of a ``height x width`` field of view.

    Parameters
    ----------
    height, width
        Field of view in pixels.
    block
        Block size ``(rows, columns)``; must fit the field of view (checked by the caller).

    Returns
    -------
    list of Block
        Tiling 0 first, each tiling row by row.
    """
    bh, bw = block
    out = []
    for k, (dy, dx) in enumerate(TILINGS):
        rows = _segments(height, bh, dy * (bh // 2))
        cols = _segments(width, bw, dx * (bw // 2))
        out += [Block(k, r0, c0, r1 - r0, c1 - c0) for r0, r1 in rows for c0, c1 in cols]
    return out


def pyramid(height: int, width: int) -> np.ndarray:
    """Return the ``(height, width)`` pyramid ``1 + min(i, j)`` peaking at the block centre."""
    i = np.minimum(np.arange(height), np.arange(height)[::-1])
    j = np.minimum(np.arange(width), np.arange(width)[::-1])
    return (1.0 + np.minimum.outer(i, j)).astype(np.float32)


def blend_weights(height: int, width: int, blocks: list[Block]) -> list[np.ndarray]:
    """Return each block's weights, normalised so that all of them sum to one at every pixel.

    Returns
    -------
    list of numpy.ndarray
        ``(block height, block width)`` float32 weights, in the order of ``blocks``.
    """
    total = np.zeros((height, width), dtype=np.float64)
    for b in blocks:
        total[b.slices] += pyramid(b.height, b.width)
    return [(pyramid(b.height, b.width) / total[b.slices]).astype(np.float32) for b in blocks]
