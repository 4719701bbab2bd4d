"""FactorisedConv3d: the same result and gradients as torch's Conv3d with the same weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from neurotwin.models.factorised_conv import FactorisedConv3d

CASES = [
    # in, out, kernel, keyword arguments
    (3, 5, (1, 5, 5), {}),
    (4, 4, (1, 3, 3), {"stride": (1, 2, 2), "padding": (0, 1, 1), "groups": 4}),
    (2, 6, (1, 3, 3), {"dilation": (1, 2, 2), "bias": True}),
    (5, 3, (4, 1, 1), {}),
    (4, 4, (5, 1, 1), {"padding": (4, 0, 0), "dilation": (2, 1, 1), "groups": 4}),
    (3, 3, (3, 1, 1), {"stride": (2, 1, 1), "bias": True}),
    (2, 3, (3, 3, 3), {"padding": 1}),  # neither: conv3d itself
    (2, 3, (1, 3, 3), {"stride": (2, 1, 1)}),  # strided in time: conv3d itself
]


@pytest.mark.parametrize(("cin", "cout", "kernel", "kwargs"), CASES)
def test_matches_conv3d(cin: int, cout: int, kernel: tuple[int, int, int], kwargs: dict) -> None:
    kwargs = {"bias": False, **kwargs}
    torch.manual_seed(0)
    reference = nn.Conv3d(cin, cout, kernel, **kwargs).double()
    conv = FactorisedConv3d(cin, cout, kernel, **kwargs).double()
    conv.load_state_dict(reference.state_dict())
    x = torch.randn(2, cin, 9, 7, 11, dtype=torch.float64, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    y, y_ref = conv(x), reference(x_ref)
    assert y.shape == y_ref.shape
    torch.testing.assert_close(y, y_ref)
    upstream = torch.randn_like(y)
    (y * upstream).sum().backward()
    (y_ref * upstream).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad)
    torch.testing.assert_close(conv.weight.grad, reference.weight.grad)
    assert set(conv.state_dict()) == set(reference.state_dict())
