"""The fused CPU read-out kernel against ``grid_sample`` + weighting (values and gradients)."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
import torch.nn.functional as F

from neurotwin.errors import NeurotwinError
from neurotwin.models.readout_kernel import fused_available, sample_and_weight


def reference(x: torch.Tensor, grid: torch.Tensor, features: torch.Tensor, align: bool):
    sampled = F.grid_sample(x, grid.unsqueeze(2), mode="bilinear", align_corners=align)
    return (sampled.squeeze(-1) * features).sum(dim=1)


def _inputs(dtype: torch.dtype, spread: float = 1.4, batch: int = 5, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 3, 4, 7, generator=generator, dtype=dtype)
    grid = (torch.rand(batch, 11, 2, generator=generator, dtype=dtype) * 2 - 1) * spread
    features = torch.randn(3, 11, generator=generator, dtype=dtype)
    return x, grid, features


@pytest.mark.parametrize("align", [True, False])
def test_gradcheck_in_float64_with_positions_inside_and_outside_the_map(align: bool) -> None:
    x, grid, features = _inputs(torch.float64)
    tensors = [t.requires_grad_(True) for t in (x, grid, features)]
    assert torch.autograd.gradcheck(
        lambda a, g, f: sample_and_weight(a, g, f, align), tensors, eps=1e-6, atol=1e-7
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("align", [True, False])
@pytest.mark.parametrize("channels_last", [True, False])
def test_values_and_gradients_equal_grid_sample(
    dtype: torch.dtype, align: bool, channels_last: bool
) -> None:
    x, grid, features = _inputs(dtype, spread=1.6, batch=9)
    grid[0, :4] = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [-1.0, 1.0], [1.0, 0.0]], dtype=dtype)
    grid[1, :3] = torch.tensor([[1e6, 0.0], [0.0, -1e9], [-3.0, 2.5]], dtype=dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    weights = torch.randn(9, 11, dtype=dtype)
    results = []
    for read in (reference, sample_and_weight):
        tensors = [t.clone().requires_grad_(True) for t in (x, grid, features)]
        out = read(*tensors, align)
        results.append((out, *torch.autograd.grad((out * weights).sum(), tensors)))
    rtol, atol = (1e-10, 1e-12) if dtype == torch.float64 else (1e-5, 1e-5)
    for got, want in zip(results[1], results[0], strict=True):
        torch.testing.assert_close(got, want, rtol=rtol, atol=atol)
    assert results[1][0][1, :3].eq(0).all()  # far outside the map reads zero
    assert results[1][1].is_contiguous(memory_format=torch.channels_last) or not channels_last


def test_only_the_gradients_asked_for_are_computed() -> None:
    x, grid, features = _inputs(torch.float64)
    grid.requires_grad_(True)
    out = sample_and_weight(x, grid, features, True)
    (grad_grid,) = torch.autograd.grad(out.sum(), [grid])
    want_grid = torch.autograd.grad(reference(x, grid, features, True).sum(), [grid])[0]
    torch.testing.assert_close(grad_grid, want_grid)
    features.requires_grad_(True)
    out = sample_and_weight(x, grid, features, True)
    (grad_features,) = torch.autograd.grad(out.sum(), [features])
    torch.testing.assert_close(
        grad_features, torch.autograd.grad(reference(x, grid, features, True).sum(), [features])[0]
    )


def test_nan_positions_give_nan_values_and_gradients() -> None:
    x, grid, features = _inputs(torch.float32)
    grid[2, 5, 0] = math.nan
    grid.requires_grad_(True)
    features.requires_grad_(True)
    out = sample_and_weight(x, grid, features, True)
    assert out[2, 5].isnan() and out.isnan().sum() == 1
    grad_grid, grad_features = torch.autograd.grad(out.sum(), [grid, features])
    assert grad_grid[2, 5].isnan().all() and grad_grid.isnan().sum() == 2
    assert grad_features[:, 5].isnan().all() and grad_features.isnan().sum() == 3


@pytest.mark.parametrize("align", [True, False])
def test_infinite_features_on_the_border_and_positions_exactly_on_it(align: bool) -> None:
    size = 5 if align else 4
    edge = -1.5 if align else -1.25  # grid coordinate of pixel -1 exactly on this map
    x = torch.ones(1, 2, size, size, dtype=torch.float64)
    x[:, :, :, -1] = math.inf  # the last column
    grid = torch.tensor([[[0.9, 0.1], [0.7, 0.2], [edge, 0.3], [0.2, edge]]], dtype=torch.float64)
    features = torch.ones(2, 4, dtype=torch.float64)
    torch.testing.assert_close(
        sample_and_weight(x, grid, features, align), reference(x, grid, features, align)
    )
    # at pixel -1 the value is 0 but the derivative towards the map is not
    x = torch.randn(1, 2, size, size, dtype=torch.float64)
    grads = []
    for read in (reference, sample_and_weight):
        leaf = grid.clone().requires_grad_(True)
        grads.append(torch.autograd.grad(read(x, leaf, features, align).sum(), [leaf])[0])
    assert grads[0][0, 2:].abs().sum() > 0
    torch.testing.assert_close(grads[1], grads[0])


def test_shapes_that_do_not_fit_are_refused() -> None:
    x, grid, features = _inputs(torch.float32)
    for bad_x, bad_grid, bad_features in [
        (x, grid, features[:, :1]),
        (x, grid, features[:2]),
        (x[:2], grid, features),
        (x, grid[..., :1], features),
    ]:
        with pytest.raises(NeurotwinError, match="readout"):
            sample_and_weight(bad_x, bad_grid, bad_features, True)


def test_python_threads_may_call_the_kernel_at_once() -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(3)
    cases = [_inputs(torch.float32, batch=batch, seed=batch) for batch in (2, 3, 5, 7)]
    wanted = [reference(*case, True) for case in cases]
    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(
                pool.map(lambda case: [sample_and_weight(*case, True) for _ in range(20)], cases)
            )
    finally:
        torch.set_num_threads(threads)
    for outs, want in zip(results, wanted, strict=True):
        for out in outs:
            torch.testing.assert_close(out, want, rtol=1e-5, atol=1e-5)


def test_threads_split_the_batch_and_repeat_exactly() -> None:
    x, grid, features = _inputs(torch.float32, batch=7)
    tensors = [t.requires_grad_(True) for t in (x, grid, features)]
    threads = torch.get_num_threads()
    runs = []
    try:
        for count in (1, 3, 3):
            torch.set_num_threads(count)
            out = sample_and_weight(*tensors, False)
            runs.append((out, *torch.autograd.grad(out.square().sum(), tensors)))
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(runs[1], runs[2], strict=True):
        assert torch.equal(a, b)  # the same threads give the same bits
    for a, b in zip(runs[0], runs[1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_empty_batch_and_other_dtypes() -> None:
    x, grid, features = _inputs(torch.float32, batch=0)
    assert sample_and_weight(x, grid, features, True).shape == (0, 11)
    x, grid, features = (t.to(torch.bfloat16) for t in _inputs(torch.float32))
    assert not fused_available(x)  # bfloat16 reads through grid_sample
    torch.testing.assert_close(
        sample_and_weight(x, grid, features, True), reference(x, grid, features, True)
    )
