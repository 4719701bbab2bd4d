import math

import numpy as np
import pytest
import torch

from neurotwin.train import loss_scale, poisson_loss


def test_poisson_loss_against_hand_computation():
    pred = torch.tensor([[1.0, 2.0], [0.5, 4.0]])
    target = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    # sum of pred - target * log(pred): (1 - 0) + (2 - log 2) + (0.5 - 2 log 0.5) + (4 - 3 log 4)
    expected = 1 + 2 - math.log(2) + 0.5 - 2 * math.log(0.5) + 4 - 3 * math.log(4)
    assert poisson_loss(pred, target).item() == pytest.approx(expected, rel=1e-6)
    assert poisson_loss(pred, target, avg=True).item() == pytest.approx(expected / 4, rel=1e-6)


def test_poisson_loss_is_finite_at_zero_prediction_and_zero_target():
    value = poisson_loss(torch.zeros(1, 3), torch.zeros(1, 3))
    assert value.item() == 0.0
    assert np.isfinite(poisson_loss(torch.zeros(1, 1), torch.ones(1, 1)).item())


def test_poisson_loss_gradient_does_not_reach_target():
    pred = torch.tensor([[2.0]], requires_grad=True)
    target = torch.tensor([[3.0]], requires_grad=True)
    poisson_loss(pred, target).backward()
    assert pred.grad.item() == pytest.approx(1 - 3 / 2)
    assert target.grad is None


def test_loss_scale_is_the_kits():
    assert loss_scale(4000, 128) == pytest.approx(math.sqrt(4000 / 128))
    assert loss_scale(100, 100) == 1.0


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="differ"):
        poisson_loss(torch.ones(2, 3), torch.ones(3, 2))
