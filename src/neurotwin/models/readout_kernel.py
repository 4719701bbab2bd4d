"""The Gaussian readout's read-out step as one fused CPU kernel: bilinear sampling + weighting.

Every neuron ``i`` of image ``b`` reads the core's feature vector at one position of the
``h x w`` grid, bilinearly between its four integer neighbours (zero outside the map), and
weights it by its own feature vector::

    out[b, i] = sum_c features[c, i] * sum_k weight_k(grid[b, i]) * x[b, c, corner_k(grid[b, i])]

:func:`torch.nn.functional.grid_sample` followed by the weighting computes the same, but
materialises a ``(B, C, n)`` intermediate, and its backward scatters a ``(B, C, n)``
gradient; at 8,000 neurons that was half of a training step on the CPU (issue #22). The
kernel here makes one pass over each image's neighbours instead, in channels-last order
(each neighbour's ``C`` features are contiguous), and keeps only its inputs for the backward
(the feature maps in channels-last order: a copy when they are not). Its gradients
(features, positions, feature maps) are those of ``grid_sample``'s bilinear mode with zero
padding; ``tests/models/test_readout_kernel.py`` checks both against ``grid_sample`` and
``tests/models/test_readout_gather.py`` against an explicit gather. Known differences, none
reachable with finite weights: positions at plus or minus infinity read 0 (``grid_sample``:
NaN), and an infinite feature at a neighbour of bilinear weight exactly 0 gives NaN.

The kernels are compiled by numba on first use (cached on disk) and release the GIL; the
images of a batch are split among ``torch.get_num_threads()`` threads, each with its own
copy of the features' gradient, summed at the end (so results do not depend on timing).
CUDA tensors and dtypes other than float32 and float64 use ``grid_sample``.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numba
import numpy as np
import torch
import torch.nn.functional as F

from neurotwin.errors import NeurotwinError

__all__ = ["fused_available", "read_with_grid_sample", "sample_and_weight"]

_POOLS: dict[int, ThreadPoolExecutor] = {}  # by thread count, this process's
_POOLS_LOCK = threading.Lock()


def _forget_pools() -> None:  # a forked child has the parent's pools but not their threads
    global _POOLS_LOCK
    _POOLS.clear()
    _POOLS_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_forget_pools)


def fused_available(x: torch.Tensor) -> bool:
    """Whether :func:`sample_and_weight` runs the fused kernel for features like ``x``."""
    return x.device.type == "cpu" and x.dtype in _DTYPES


_DTYPES = (torch.float32, torch.float64)


def sample_and_weight(
    x: torch.Tensor, grid: torch.Tensor, features: torch.Tensor, align_corners: bool
) -> torch.Tensor:
    """Read each neuron's features at its position and weight them; ``(B, n)``.

    Parameters
    ----------
    x
        ``(B, C, h, w)`` feature maps of the core (any memory format; channels-last avoids
        a copy).
    grid
        ``(B, n, 2)`` positions ``(x, y)`` in grid_sample coordinates (``[-1, 1]`` spans the
        map; outside it the neighbours read zero).
    features
        ``(C, n)`` per-neuron feature weights.
    align_corners
        grid_sample's convention for the map's corners.

    Returns
    -------
    torch.Tensor
        ``(B, n)``: ``(grid_sample(x, grid[:, :, None]) * features).sum(1)``, computed by the
        fused kernel on the CPU (float32, float64) and by ``grid_sample`` otherwise.
        Differentiable once with respect to all three tensors.
    """
    _check_shapes(x, grid, features)
    if not (fused_available(x) and grid.dtype == x.dtype and features.dtype == x.dtype):
        return read_with_grid_sample(x, grid, features, align_corners)
    out: torch.Tensor = _FusedReadout.apply(x, grid, features, align_corners)
    return out


def read_with_grid_sample(
    x: torch.Tensor, grid: torch.Tensor, features: torch.Tensor, align_corners: bool
) -> torch.Tensor:
    """Compute :func:`sample_and_weight` by ``grid_sample``, as the 2022 kit did.

    Materialises the ``(B, C, n)`` samples; used off the CPU and by the benchmarks' kit recipe.
    """
    sampled = F.grid_sample(x, grid.unsqueeze(2), mode="bilinear", align_corners=align_corners)
    return (sampled.squeeze(-1) * features).sum(dim=1)


def _check_shapes(x: torch.Tensor, grid: torch.Tensor, features: torch.Tensor) -> None:
    """Raise :class:`~neurotwin.errors.NeurotwinError` unless the shapes fit each other."""
    fits = x.dim() == 4 and grid.dim() == 3 and features.dim() == 2
    if fits:
        b, c = x.shape[:2]
        fits = grid.shape[0] == b and grid.shape[2] == 2 and features.shape == (c, grid.shape[1])
    if not fits:
        raise NeurotwinError(
            "readout: feature maps (B, C, h, w), positions (B, n, 2) and features (C, n) "
            f"expected, got {tuple(x.shape)}, {tuple(grid.shape)} and {tuple(features.shape)}"
        )


class _FusedReadout(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        grid: torch.Tensor,
        features: torch.Tensor,
        align_corners: bool,
    ) -> torch.Tensor:
        maps = _channels_last(x)
        grid_c = grid.detach().contiguous()
        weights = features.detach().t().contiguous()  # (n, C)
        b, n = grid.shape[:2]
        out = torch.empty(b, n, dtype=x.dtype)
        _run(
            _forward_kernel,
            _chunks(b),
            maps.numpy(),
            grid_c.numpy(),
            weights.numpy(),
            out.numpy(),
            x.shape[2],
            x.shape[3],
            align_corners,
        )
        ctx.save_for_backward(maps, grid_c, weights)
        ctx.align_corners = align_corners
        ctx.map_shape = tuple(x.shape)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, ...]:
        maps, grid, weights = ctx.saved_tensors
        need_x, need_grid, need_features = ctx.needs_input_grad[:3]
        b, c, h, w = ctx.map_shape
        n = grid.shape[1]
        g = grad_out.detach().to(maps.dtype).contiguous()
        grad_maps = torch.zeros_like(maps) if need_x else maps.new_zeros(1, 1, 1)
        grad_grid = torch.zeros_like(grid) if need_grid else grid.new_zeros(1, 1, 1)
        chunks = _chunks(b)
        partial = maps.new_zeros(len(chunks) if need_features else 1, n, c if need_features else 1)
        _run(
            _backward_kernel,
            chunks,
            maps.numpy(),
            grid.numpy(),
            weights.numpy(),
            g.numpy(),
            grad_maps.numpy(),
            grad_grid.numpy(),
            partial.numpy(),
            h,
            w,
            ctx.align_corners,
            need_x,
            need_grid,
            need_features,
            per_chunk_output=True,
        )
        grad_x = grad_maps.reshape(b, h, w, c).permute(0, 3, 1, 2) if need_x else None
        grad_features = partial.sum(dim=0).t() if need_features else None
        return grad_x, grad_grid if need_grid else None, grad_features, None


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    """``(B, h * w, C)`` contiguous view (a copy only if ``x`` is not channels-last)."""
    b, c, h, w = x.shape
    return x.detach().permute(0, 2, 3, 1).contiguous().reshape(b, h * w, c)


def _chunks(batch: int) -> list[tuple[int, int]]:
    """Split ``range(batch)`` into one contiguous chunk per torch thread."""
    parts = max(1, min(torch.get_num_threads(), batch))
    size = max(1, math.ceil(batch / parts))
    return [(start, min(start + size, batch)) for start in range(0, batch, size)] or [(0, 0)]


def _pool(threads: int) -> ThreadPoolExecutor:
    """Return the pool of ``threads`` threads (kept for the process; callers may share it)."""
    with _POOLS_LOCK:
        if threads not in _POOLS:
            _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="neurotwin-readout")
        return _POOLS[threads]


def _run(
    kernel: Any, chunks: list[tuple[int, int]], *args: Any, per_chunk_output: bool = False
) -> None:
    """Call ``kernel(*args, start, stop[, chunk])`` on each chunk of the batch, in threads."""
    calls = [
        (*args, start, stop, index) if per_chunk_output else (*args, start, stop)
        for index, (start, stop) in enumerate(chunks)
    ]
    if len(calls) == 1:
        kernel(*calls[0])
        return
    pool = _pool(len(calls))
    for future in [pool.submit(kernel, *call) for call in calls]:
        future.result()


def _jit(function: Any) -> Any:
    """Compile ``function`` without the GIL, cached on disk where numba finds a writable place."""
    fastmath = {"reassoc", "contract"}
    try:
        return numba.njit(function, cache=True, nogil=True, fastmath=fastmath)
    except RuntimeError:  # no writable cache folder (read-only install, no home): compile each run
        return numba.njit(function, cache=False, nogil=True, fastmath=fastmath)


@_jit
def _corners(gx, gy, h, w, align_corners):  # type: ignore[no-untyped-def]
    """Pixel coordinates ``(ix, iy)`` of a grid position and d(pixel) / d(grid) per axis."""
    if align_corners:
        ix = (gx + 1.0) / 2.0 * (w - 1)
        iy = (gy + 1.0) / 2.0 * (h - 1)
        scale_x = (w - 1) / 2.0
        scale_y = (h - 1) / 2.0
    else:
        ix = ((gx + 1.0) * w - 1.0) / 2.0
        iy = ((gy + 1.0) * h - 1.0) / 2.0
        scale_x = w / 2.0
        scale_y = h / 2.0
    return ix, iy, scale_x, scale_y


@_jit
def _neighbours(ix, iy, h, w):  # type: ignore[no-untyped-def]
    """Return the 4 neighbours of pixel ``(ix, iy)``: row-major indices, weights, masks.

    Order: ``(x0, y0), (x0 + 1, y0), (x0, y0 + 1), (x0 + 1, y0 + 1)``. A neighbour outside
    the map gets weight 0, mask 0 and a clamped index; the kernels read it only when all
    four are on the map (one loop over the channels, no branch), else only those with mask 1.
    """
    x0 = math.floor(ix)
    y0 = math.floor(iy)
    tx = ix - x0
    ty = iy - y0
    in_x0 = 1.0 if 0 <= x0 < w else 0.0
    in_x1 = 1.0 if 0 <= x0 + 1 < w else 0.0
    in_y0 = 1.0 if 0 <= y0 < h else 0.0
    in_y1 = 1.0 if 0 <= y0 + 1 < h else 0.0
    cx0 = min(max(x0, 0), w - 1)
    cx1 = min(max(x0 + 1, 0), w - 1)
    cy0 = min(max(y0, 0), h - 1)
    cy1 = min(max(y0 + 1, 0), h - 1)
    pixels = (cy0 * w + cx0, cy0 * w + cx1, cy1 * w + cx0, cy1 * w + cx1)
    masks = (in_x0 * in_y0, in_x1 * in_y0, in_x0 * in_y1, in_x1 * in_y1)
    weights = (
        (1.0 - tx) * (1.0 - ty) * masks[0],
        tx * (1.0 - ty) * masks[1],
        (1.0 - tx) * ty * masks[2],
        tx * ty * masks[3],
    )
    return pixels, weights, masks, tx, ty


@_jit
def _read_on_map(maps, weights, b, i, pixels, bilinear, masks):  # type: ignore[no-untyped-def]
    """Forward of one neuron with neighbours off the map: read only those on it."""
    total = 0.0
    for k in range(4):
        if masks[k] == 1.0:
            pixel, weight = pixels[k], bilinear[k]
            for c in range(maps.shape[2]):
                total += weight * weights[i, c] * maps[b, pixel, c]
    return total


@_jit
def _scatter_on_map(  # type: ignore[no-untyped-def]
    maps, weights, grad_maps, grad_weights, dots, b, i, chunk, g, pixels, bilinear, masks,
    need_maps, need_weights,
):  # fmt: skip
    """Backward of one neuron with neighbours off the map: ``dots`` and the scatters."""
    for k in range(4):
        dots[k] = 0.0
        if masks[k] != 1.0:
            continue
        pixel, coef = pixels[k], g * bilinear[k]
        for c in range(maps.shape[2]):
            f = weights[i, c]
            value = maps[b, pixel, c]
            dots[k] += f * value
            if need_weights:
                grad_weights[chunk, i, c] += coef * value
            if need_maps:
                grad_maps[b, pixel, c] += coef * f


@_jit
def _forward_kernel(maps, grid, weights, out, h, w, align_corners, start, stop):  # type: ignore[no-untyped-def]
    n = grid.shape[1]
    channels = maps.shape[2]
    for b in range(start, stop):
        for i in range(n):
            ix, iy, _, _ = _corners(grid[b, i, 0], grid[b, i, 1], h, w, align_corners)
            if ix != ix or iy != iy:
                out[b, i] = np.nan
                continue
            if not (ix >= -1.0 and ix < w and iy >= -1.0 and iy < h):
                out[b, i] = 0.0
                continue
            pixels, bilinear, masks, _, _ = _neighbours(ix, iy, h, w)
            total = 0.0
            if masks[0] * masks[1] * masks[2] * masks[3] == 1.0:  # all four on the map
                p0, p1, p2, p3 = pixels
                w0, w1, w2, w3 = bilinear
                for c in range(channels):
                    total += weights[i, c] * (
                        w0 * maps[b, p0, c]
                        + w1 * maps[b, p1, c]
                        + w2 * maps[b, p2, c]
                        + w3 * maps[b, p3, c]
                    )
            else:  # read only the neighbours on the map (an infinite feature stays infinite)
                total = _read_on_map(maps, weights, b, i, pixels, bilinear, masks)
            out[b, i] = total


@_jit
def _backward_kernel(  # type: ignore[no-untyped-def]
    maps,
    grid,
    weights,
    grad_out,
    grad_maps,
    grad_grid,
    grad_weights,
    h,
    w,
    align_corners,
    need_maps,
    need_grid,
    need_weights,
    start,
    stop,
    chunk,
):
    n = grid.shape[1]
    channels = maps.shape[2]
    dots = np.zeros(4)
    for b in range(start, stop):
        for i in range(n):
            g = grad_out[b, i]
            ix, iy, scale_x, scale_y = _corners(grid[b, i, 0], grid[b, i, 1], h, w, align_corners)
            if ix != ix or iy != iy:  # as grid_sample: NaN for the position and the features
                if need_grid:
                    grad_grid[b, i, 0] = grad_grid[b, i, 1] = np.nan
                if need_weights:
                    for c in range(channels):
                        grad_weights[chunk, i, c] = np.nan
                continue
            if not (ix >= -1.0 and ix < w and iy >= -1.0 and iy < h):
                continue
            pixels, bilinear, masks, tx, ty = _neighbours(ix, iy, h, w)
            if masks[0] * masks[1] * masks[2] * masks[3] != 1.0:  # some neighbours off the map
                _scatter_on_map(
                    maps, weights, grad_maps, grad_weights, dots, b, i, chunk, g, pixels,
                    bilinear, masks, need_maps, need_weights,
                )  # fmt: skip
            else:
                _scatter_all_four(
                    maps, weights, grad_maps, grad_weights, dots, b, i, chunk, g, pixels,
                    bilinear, need_maps, need_grid, need_weights,
                )  # fmt: skip
            if need_grid:
                d_x = (dots[1] - dots[0]) * (1.0 - ty) + (dots[3] - dots[2]) * ty
                d_y = (dots[2] - dots[0]) * (1.0 - tx) + (dots[3] - dots[1]) * tx
                grad_grid[b, i, 0] = g * d_x * scale_x
                grad_grid[b, i, 1] = g * d_y * scale_y


@_jit
def _scatter_all_four(  # type: ignore[no-untyped-def]
    maps, weights, grad_maps, grad_weights, dots, b, i, chunk, g, pixels, bilinear,
    need_maps, need_grid, need_weights,
):  # fmt: skip
    """Backward of one neuron with all four neighbours on the map: ``dots`` and the scatters."""
    channels = maps.shape[2]
    p0, p1, p2, p3 = pixels
    w0, w1, w2, w3 = bilinear
    g0, g1, g2, g3 = g * w0, g * w1, g * w2, g * w3
    d0 = d1 = d2 = d3 = 0.0
    if need_grid:
        for c in range(channels):
            f = weights[i, c]
            d0 += f * maps[b, p0, c]
            d1 += f * maps[b, p1, c]
            d2 += f * maps[b, p2, c]
            d3 += f * maps[b, p3, c]
    dots[0], dots[1], dots[2], dots[3] = d0, d1, d2, d3
    if need_weights:
        for c in range(channels):
            grad_weights[chunk, i, c] += (
                g0 * maps[b, p0, c]
                + g1 * maps[b, p1, c]
                + g2 * maps[b, p2, c]
                + g3 * maps[b, p3, c]
            )
    if need_maps:
        for c in range(channels):
            f = weights[i, c]
            grad_maps[b, p0, c] += g0 * f
            grad_maps[b, p1, c] += g1 * f
            grad_maps[b, p2, c] += g2 * f
            grad_maps[b, p3, c] += g3 * f
