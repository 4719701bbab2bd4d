"""A tiny neural-regularised run, the classifier's split, and refused inputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from neurotwin.neuroreg import NeuroregError
from neurotwin.neuroreg.classifier import SmallResNet
from neurotwin.neuroreg.target import pixel_target
from neurotwin.neuroreg.tasks import shapes_dataset
from neurotwin.neuroreg.train import TrainSettings, train_classifier

TINY = TrainSettings(
    epochs=3, batch_size=32, pair_batch=8, widths=(4, 8), strides=(1, 2), lr=0.05, alpha=5.0
)


def test_classifier_exposes_its_layers() -> None:
    model = SmallResNet(10, (4, 8, 16))
    reps = model.features(torch.rand(2, 1, 12, 20))
    assert [r.shape[1] for r in reps] == [4, 4, 8, 16] and model.n_representations == 4
    assert model(torch.rand(2, 1, 12, 20)).shape == (2, 10)


def test_a_tiny_regularised_run_trains_in_seconds() -> None:
    images, labels = shapes_dataset(160, (12, 20), seed=0)
    stimuli, _ = shapes_dataset(16, (12, 20), seed=1)
    result = train_classifier(
        images, labels, TINY, stimuli=stimuli, target=pixel_target(stimuli), n_classes=10
    )
    ce, pen = result.history["cross_entropy"], result.history["penalty"]
    assert len(ce) == 3 and ce[-1] < ce[0]
    assert all(p > 0 for p in pen)
    assert sum(result.layer_weights) == pytest.approx(1.0)
    assert not result.model.training
    plain = train_classifier(images, labels, TINY, n_classes=10)
    assert plain.layer_weights == [] and plain.history["penalty"] == [0.0] * 3


def test_refused_inputs() -> None:
    images, labels = shapes_dataset(20, (12, 20), seed=0)
    stimuli, _ = shapes_dataset(4, (12, 24), seed=1)
    with pytest.raises(NeuroregError, match="must have one size"):
        train_classifier(images, labels, TINY, stimuli=stimuli, target=pixel_target(stimuli))
    with pytest.raises(NeuroregError, match="needs its stimulus images"):
        train_classifier(images, labels, TINY, target=np.eye(4))
    with pytest.raises(NeuroregError, match="alpha must be a finite number"):
        train_classifier(images, labels, dataclasses.replace(TINY, alpha=-1.0))
    with pytest.raises(NeuroregError, match="labels must be"):
        train_classifier(images, labels[:5], TINY)
    with pytest.raises(NeuroregError, match="uint8"):
        train_classifier(images.astype(np.float32), labels, TINY)
