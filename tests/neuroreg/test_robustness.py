"""Noise curves and the PGD bisection, checked on a linear classifier with a known answer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from neurotwin.neuroreg import NeuroregError
from neurotwin.neuroreg.experiment import evaluate
from neurotwin.neuroreg.robustness import add_noise, minimal_perturbations, noise_curves


class MeanBrightness(nn.Module):
    """Class 1 when the mean pixel exceeds 0.5: the Linf distance to the border is known."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.flatten(1).mean(dim=1) - 0.5
        return torch.stack([-m, m], dim=1) * 10


def test_minimal_linf_perturbation_of_a_linear_classifier() -> None:
    # a uniform image of value v needs an Linf change of |v - 0.5| (L2: |v - 0.5| * sqrt(P))
    values = np.array([0.3, 0.45, 0.6, 0.9])
    images = np.repeat(np.rint(values * 255), 16).reshape(4, 4, 4).astype(np.uint8)
    labels = (values > 0.5).astype(np.int64)
    model = MeanBrightness()
    distance = np.abs(images.reshape(4, -1).mean(1) / 255 - 0.5)
    linf = minimal_perturbations(model, images, labels, "linf", bisections=10, eps_max=0.5)
    np.testing.assert_allclose(linf, distance, atol=0.5 / 2**10 + 1e-6)
    l2 = minimal_perturbations(model, images, labels, "l2", bisections=10, eps_max=4.0)
    np.testing.assert_allclose(l2, distance * 4, atol=4 / 2**10 + 1e-3)
    wrong = minimal_perturbations(model, images, 1 - labels, "linf")
    np.testing.assert_array_equal(wrong, 0.0)  # misclassified images need no perturbation
    far = minimal_perturbations(model, images, labels, "linf", eps_max=0.01)
    assert np.isinf(far).all()


def test_noise_curves_start_at_clean_accuracy_and_noise_acts() -> None:
    images = np.repeat(np.array([60, 200], dtype=np.uint8), 64).reshape(2, 8, 8)
    curves = noise_curves(MeanBrightness(), images, np.array([0, 1]), levels=(0.0, 0.5))
    assert set(curves) == {"gaussian", "uniform", "salt_pepper"}
    assert all(c[0] == 1.0 for c in curves.values())
    x = torch.full((1, 1, 50, 50), 0.5)
    noisy = add_noise(x, "salt_pepper", 1.0, torch.Generator().manual_seed(0))
    assert set(noisy.unique().tolist()) == {0.0, 1.0}
    with pytest.raises(NeuroregError, match="unknown noise"):
        add_noise(x, "pink", 0.1, torch.Generator())
    with pytest.raises(NeuroregError, match="norm must be"):
        minimal_perturbations(MeanBrightness(), images, np.array([0, 1]), "l1")


def test_no_correctly_classified_attacked_image_gives_no_median() -> None:
    # every image misclassified: the median minimal perturbation is undefined, not 0 (which
    # would read as "infinitely fragile" and pull a mean over seeds down)
    images = np.repeat(np.array([60, 200], dtype=np.uint8), 64).reshape(2, 8, 8)
    result = evaluate(MeanBrightness(), images, np.array([1, 0]), levels=(0.0,))
    assert result["clean_accuracy"] == 0.0
    assert result["adversarial"] == {"linf": None, "l2": None}
