"""The similarity penalty and its setting."""

from __future__ import annotations

import math

import pytest
import torch

from neurotwin.neuroreg import NeuroregError
from neurotwin.neuroreg.penalty import SimilarityPenalty, batch_similarity, check_penalty_weight


def test_penalty_is_zero_when_the_model_similarity_equals_the_target() -> None:
    torch.manual_seed(0)
    reps = [torch.randn(6, 3, 4, 4), torch.randn(6, 8)]
    penalty = SimilarityPenalty(2)
    with torch.no_grad():
        penalty.layer_logits.copy_(torch.tensor([0.3, -1.0]))
        target = penalty.model_similarity(reps)
        assert float(penalty(reps, target)) == pytest.approx(0.0, abs=1e-10)
        assert float(penalty(reps, torch.eye(6))) > 0.01


def test_penalty_by_hand_on_one_layer() -> None:
    features = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    # centred: [1/3, -2/3], [-2/3, 1/3], [1/3, 1/3] -> cosines -0.8, -1/sqrt(10), -1/sqrt(10)
    sims = [-0.8, -1 / math.sqrt(10), -1 / math.sqrt(10)]
    got = batch_similarity(features)
    assert [float(got[0, 1]), float(got[0, 2]), float(got[1, 2])] == pytest.approx(sims)
    expected = sum(math.atanh(s) ** 2 for s in sims) / 3  # against a target of zeros
    with torch.no_grad():
        assert float(SimilarityPenalty(1)([features], torch.zeros(3, 3))) == pytest.approx(expected)


def test_layer_weights_are_a_softmax() -> None:
    weights = SimilarityPenalty(3).layer_weights().detach()
    assert float(weights.sum()) == pytest.approx(1.0)
    with pytest.raises(NeuroregError, match="representations"):
        SimilarityPenalty(3).model_similarity([torch.randn(4, 2)])


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "ten"])
def test_a_negative_or_non_finite_penalty_weight_is_refused(bad: object) -> None:
    with pytest.raises(NeuroregError, match="alpha must be a"):
        check_penalty_weight(bad, "alpha")  # type: ignore[arg-type]
    assert check_penalty_weight(0) == 0.0
