"""The Gaussian readout against an explicit gather of each neuron's four bilinear neighbours.

The reference below is written without ``grid_sample``: it gathers the feature vectors at
the four integer neighbours of each neuron's position (zero outside the map), weights them
bilinearly and by the neuron's features. Values and gradients (features, positions, sigma,
bias, core features, shift) must agree in training mode (sampled positions) and eval mode,
with and without an eye-position shift, for both ``align_corners`` and at the borders.
"""

from __future__ import annotations

import pytest
import torch

from model_helpers import make_info
from neurotwin.models import FullGaussianReadout, GaussianReadoutConfig


def gathered(
    x: torch.Tensor, grid: torch.Tensor, features: torch.Tensor, align_corners: bool
) -> torch.Tensor:
    """``(B, n)``: features ``x`` ``(B, C, h, w)`` read at ``grid`` ``(B, n, 2)``, weighted."""
    b, _, h, w = x.shape
    gx, gy = grid[..., 0], grid[..., 1]
    if align_corners:
        ix, iy = (gx + 1) / 2 * (w - 1), (gy + 1) / 2 * (h - 1)
    else:
        ix, iy = ((gx + 1) * w - 1) / 2, ((gy + 1) * h - 1) / 2
    x0, y0 = ix.floor(), iy.floor()
    tx, ty = ix - x0, iy - y0
    channels_last = x.permute(0, 2, 3, 1)  # (B, h, w, C)
    rows = torch.arange(b)[:, None]
    sampled = torch.zeros(*grid.shape[:2], x.shape[1], dtype=x.dtype)
    for cy, wy in ((y0, 1 - ty), (y0 + 1, ty)):
        for cx, wx in ((x0, 1 - tx), (x0 + 1, tx)):
            inside = (cx >= 0) & (cx <= w - 1) & (cy >= 0) & (cy <= h - 1)
            values = channels_last[rows, cy.clamp(0, h - 1).long(), cx.clamp(0, w - 1).long()]
            sampled = sampled + (wx * wy * inside)[..., None] * values
    return (sampled * features.t()).sum(-1)


def _readout(dtype: torch.dtype, align_corners: bool, predictor: bool) -> FullGaussianReadout:
    torch.manual_seed(0)
    config = GaussianReadoutConfig(
        align_corners=align_corners, grid_mean_predictor=predictor, init_sigma=0.6
    )
    readout = FullGaussianReadout(config, make_info("1-1-1", 40), in_channels=3, in_hw=(5, 9))
    readout = readout.to(dtype)
    with torch.no_grad():
        readout.features.normal_()
        assert readout.bias is not None
        readout.bias.normal_()
        if readout.mu is not None:  # some neurons exactly on the borders and corners
            readout.mu[:4] = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [-1.0, 1.0], [1.0, 0.0]])
    return readout


def _grads(
    loss: torch.Tensor, readout: FullGaussianReadout, inputs: list[torch.Tensor]
) -> list[torch.Tensor | None]:
    """Gradients of every parameter (None where unused: sigma in eval mode) and input."""
    tensors = [*readout.parameters(), *inputs]
    return list(torch.autograd.grad(loss, tensors, allow_unused=True))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shifted", [False, True])
@pytest.mark.parametrize("align_corners", [True, False])
@pytest.mark.parametrize("predictor", [True, False])
def test_readout_equals_a_gather_of_bilinear_neighbours(
    dtype: torch.dtype, training: bool, shifted: bool, align_corners: bool, predictor: bool
) -> None:
    readout = _readout(dtype, align_corners, predictor).train(training)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(6, 3, 5, 9, generator=generator, dtype=dtype).requires_grad_(True)
    weights = torch.randn(6, 40, generator=generator, dtype=dtype)
    # shifts up to 0.9 push clamped positions past the map's borders
    shift = (torch.rand(6, 2, generator=generator, dtype=dtype) * 1.8 - 0.9).requires_grad_(True)
    given = shift if shifted else None
    inputs = [x, shift] if shifted else [x]

    torch.manual_seed(2)
    out = readout(x, given)
    got = _grads((out * weights).sum(), readout, inputs)

    torch.manual_seed(2)  # the same draws of the positions
    grid = readout.sample_positions(6)
    if shifted:
        grid = grid + shift[:, None, :]
    assert readout.bias is not None
    expected = gathered(x, grid, readout.features, align_corners) + readout.bias
    want = _grads((expected * weights).sum(), readout, inputs)

    # float32: the sums' order follows the buffers' alignment (BLAS), which malloc's reuse
    # of freed memory changes (measured: 3e-5 relative on one gradient); float64 is exact
    rtol, atol = (1e-10, 1e-12) if dtype == torch.float64 else (1e-4, 1e-5)
    torch.testing.assert_close(out, expected, rtol=rtol, atol=atol)
    assert [g is None for g in got] == [g is None for g in want]
    assert got[-1] is not None and got[-1].abs().sum() > 0  # the gradients are not all zero
    for a, b in zip(got, want, strict=True):
        if a is not None:
            torch.testing.assert_close(a, b, rtol=rtol, atol=atol)


def test_video_readout_folds_time_into_the_batch() -> None:
    """Frames read as one ``(B * T)`` batch equal frames read one at a time."""
    readout = _readout(torch.float64, True, True).eval()
    frames = torch.randn(2, 4, 3, 5, 9, dtype=torch.float64)  # (B, T, C, h, w)
    shift = torch.rand(2, 4, 2, dtype=torch.float64) - 0.5
    folded = readout(frames.reshape(8, 3, 5, 9), shift.reshape(8, 2)).reshape(2, 4, 40)
    for t in range(4):
        torch.testing.assert_close(folded[:, t], readout(frames[:, t], shift[:, t]))
