"""Cores and readouts against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from model_helpers import make_info
from neurotwin.models import (
    FactorizedReadout,
    FactorizedReadoutConfig,
    FullGaussianReadout,
    GaussianReadoutConfig,
    StackedCore2d,
    StackedCoreConfig,
)
from neurotwin.models.readouts import source_grid


def test_kit_core_layout_and_sizes() -> None:
    core = StackedCore2d(StackedCoreConfig(hidden_channels=8), input_channels=1)
    assert len(core.layers) == 4
    assert core.first_weight.shape == (8, 1, 9, 9)
    ds = core.layers[1].conv
    assert ds.in_depth.weight.shape == (8, 8, 1, 1)
    assert ds.spatial.weight.shape == (8, 1, 7, 7)
    assert ds.out_depth.weight.shape == (8, 8, 1, 1)
    assert all(m.bias is None for m in core.modules() if isinstance(m, torch.nn.Conv2d))
    assert all(isinstance(block.act, torch.nn.ELU) for block in core.layers)
    x = torch.randn(2, 1, 16, 24)
    assert core(x).shape == (2, 8, 8, 16) and core.output_hw((16, 24)) == (8, 16)
    padded = StackedCore2d(StackedCoreConfig(hidden_channels=8, pad_input=True), 1)
    assert padded(x).shape == (2, 8, 16, 24)
    rows, cols = core.output_to_input(np.array([0.0]), np.array([15.0]), (16, 24))
    assert rows[0] == 4 and cols[0] == 19


def test_batch_norm_momentum_is_passed_as_is() -> None:
    """The kit's momentum 0.9: running mean = 0.1 * old + 0.9 * batch mean."""
    core = StackedCore2d(StackedCoreConfig(hidden_channels=4, layers=1), 1)
    x = torch.randn(5, 1, 12, 12)
    core(x)
    batch_mean = F.conv2d(x, core.first_weight).mean(dim=(0, 2, 3))
    assert torch.allclose(core.layers[0].norm.running_mean, 0.9 * batch_mean, atol=1e-6)


def test_laplace_penalty_of_a_delta_filter() -> None:
    """A centred delta: the Laplacian has 4 at the centre and -1 four times, so 20 / 1."""
    core = StackedCore2d(StackedCoreConfig(hidden_channels=2, gamma_input=0.5), 1)
    with torch.no_grad():
        core.first_weight.zero_()
        core.first_weight[:, :, 4, 4] = 3.0
    assert torch.isclose(core.laplace(), torch.tensor(20.0))
    assert torch.isclose(core.regularizer(), torch.tensor(10.0))


def test_linear_core_is_affine() -> None:
    torch.manual_seed(0)
    linear = StackedCore2d(StackedCoreConfig(hidden_channels=4, layers=3, linear=True), 1).eval()
    a, b, zero = torch.randn(1, 1, 12, 12), torch.randn(1, 1, 12, 12), torch.zeros(1, 1, 12, 12)
    f0 = linear(zero)
    assert torch.allclose(linear(a + b) - f0, (linear(a) - f0) + (linear(b) - f0), atol=1e-5)
    assert not any(isinstance(m, torch.nn.ELU) for m in linear.modules())


def _free(n: int = 3, **changes: object) -> FullGaussianReadout:
    config = GaussianReadoutConfig(grid_mean_predictor=False, **changes)  # type: ignore[arg-type]
    return FullGaussianReadout(config, make_info("1-1-1", n), in_channels=2, in_hw=(5, 9))


def test_gaussian_readout_reads_bilinearly_at_the_mean_in_eval() -> None:
    readout = _free().eval()
    x = torch.randn(2, 2, 5, 9)
    with torch.no_grad():
        readout.mu.copy_(torch.tensor([[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0]]))
        readout.features.copy_(torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 2.0]]))
        readout.bias.copy_(torch.tensor([0.5, 0.0, 0.0]))
    out = readout(x)
    assert torch.allclose(out[:, 0], x[:, 0, 0, 0] + 0.5)  # top-left pixel (align_corners)
    assert torch.allclose(out[:, 1], x[:, 0, 4, 8])  # bottom-right pixel
    centre = x[:, 0, 2, 4] + 2 * x[:, 1, 2, 4]
    assert torch.allclose(out[:, 2], centre, atol=1e-6)
    positions = readout.positions()
    assert torch.allclose(positions, torch.tensor([[0.0, 0.0], [4.0, 8.0], [2.0, 4.0]]))
    shifted = readout(x, shift=torch.tensor([[0.25, 0.0], [0.25, 0.0]]))  # +1 column
    assert torch.allclose(shifted[:, 2], x[:, 0, 2, 5] + 2 * x[:, 1, 2, 5], atol=1e-6)


def test_gaussian_readout_samples_with_the_full_covariance_in_training() -> None:
    torch.manual_seed(0)
    readout = _free(n=2)
    sigma = torch.tensor([[0.2, 0.0], [0.1, 0.1]])
    with torch.no_grad():
        readout.mu.zero_()
        readout.sigma.copy_(sigma.expand(2, 2, 2))
    samples = readout.sample_positions(20000)[:, 0]  # (B, 2)
    assert samples.mean(0).abs().max() < 0.01
    assert torch.allclose(torch.cov(samples.T), sigma @ sigma.T, atol=2e-3)
    assert not torch.equal(readout.sample_positions(2), readout.sample_positions(2))
    readout.eval()
    assert torch.equal(readout.sample_positions(2), torch.zeros(2, 2, 2))


def test_free_means_are_clamped_into_the_grid_while_training() -> None:
    readout = _free()
    with torch.no_grad():
        readout.mu.fill_(3.0)
    readout(torch.randn(1, 2, 5, 9))
    assert readout.mu.max() <= 1.0


def test_mean_predictor_uses_normalised_cortical_coordinates() -> None:
    info = make_info("1-1-1", 5)
    readout = FullGaussianReadout(GaussianReadoutConfig(), info, 2, (5, 9))
    grid = readout.source_grid.numpy()
    assert grid.shape == (5, 2)
    assert np.allclose(grid.mean(0), 0, atol=1e-6) and np.isclose(np.abs(grid).max(), 1)
    assert readout.mu is None and readout.uses_predictor
    assert [type(m).__name__ for m in readout.position_net] == ["Linear", "ELU", "Linear", "Tanh"]
    assert readout.position_net[0].out_features == 30
    assert source_grid(np.ones((4, 3)), 2) is None  # constant coordinates: free means
    assert torch.isclose(readout.regularizer(), torch.tensor(0.0076 * 5))  # features 1/C


def test_factorized_readout_positions_and_penalty() -> None:
    config = FactorizedReadoutConfig(gamma_readout=0.5)
    readout = FactorizedReadout(config, make_info("1-1-1", 2), 3, (4, 6))
    with torch.no_grad():
        readout.spatial.zero_()
        readout.spatial[0, 1, 2] = 2.0
        readout.spatial[1, 3, 0] = -1.0
        readout.spatial[1, 3, 2] = 1.0
        readout.features.fill_(1.0)
        readout.bias.zero_()
    assert torch.allclose(readout.positions(), torch.tensor([[1.0, 2.0], [3.0, 1.0]]))
    x = torch.randn(2, 3, 4, 6)
    out = readout(x)
    assert torch.allclose(out[:, 0], x[:, :, 1, 2].sum(1), atol=1e-5)
    # penalty: |mask|_1 (1 and sqrt 2) times |features|_1 (3), times gamma
    expected = 0.5 * 3 * (1.0 + 2 / np.sqrt(2))
    assert torch.isclose(readout.regularizer(), torch.tensor(expected, dtype=torch.float32))
    with pytest.raises(Exception, match=r"cannot apply an eye-position shift"):
        readout(x, shift=torch.zeros(2, 2))
