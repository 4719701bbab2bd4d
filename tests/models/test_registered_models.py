"""Every registered model: forward, backward, penalty, save/load, receptive fields."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from model_helpers import SMALL, shipped_models
from neurotwin.models import create_model, list_models, load_model, save_model

torch.manual_seed(0)

#: The static models (the video models have their tests in test_video_models.py).
STATIC_MODELS = [name for name in shipped_models() if not name.startswith("video-")]


def test_the_named_baselines_are_registered() -> None:
    names = set(list_models())
    assert {"sensorium", "sensorium+", "sensorium-ln", "sensorium+-ln"} <= names
    assert {"sensorium+-gain", "sensorium-factorized"} <= names


@pytest.mark.parametrize("name", STATIC_MODELS)
def test_forward_backward_and_penalty(name: str, infos: dict, batch: dict) -> None:
    model = create_model(name, infos, **SMALL)
    assert model.name == name and model.keys == ("1-2-3", "4-5-6")
    for key, info in infos.items():
        out = model(batch, key)
        assert out.shape == (3, info.n_neurons)
        assert torch.all(out > 0)
        penalty = model.regularizer(key)
        assert penalty.ndim == 0 and torch.isfinite(penalty)
        (out.sum() + penalty).backward()
    grads = [p.grad for p in model.core.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", STATIC_MODELS)
def test_save_and_load_give_identical_predictions(
    name: str, infos: dict, batch: dict, tmp_path: Path
) -> None:
    model = create_model(name, infos, **SMALL)
    model(batch, "1-2-3")  # one training step of batch-norm statistics
    model.eval()
    path = save_model(model, tmp_path / "model.pt")
    loaded = load_model(path)
    assert loaded.name == name and loaded.config == model.config
    assert not loaded.training
    for key in infos:
        assert torch.equal(model(batch, key), loaded(batch, key))
    assert not list(tmp_path.glob(".*tmp"))  # the temporary file was renamed away


@pytest.mark.parametrize("name", STATIC_MODELS)
def test_receptive_field_positions_lie_inside_the_image(name: str, infos: dict) -> None:
    model = create_model(name, infos, **SMALL)
    for key, info in infos.items():
        rf = model.receptive_field_positions(key)
        assert rf.shape == (info.n_neurons, 2)
        h, w = info.image_hw
        assert np.all(rf[:, 0] >= -0.5) and np.all(rf[:, 0] <= h - 0.5)
        assert np.all(rf[:, 1] >= -0.5) and np.all(rf[:, 1] <= w - 0.5)


@pytest.mark.parametrize("name", STATIC_MODELS)
def test_needs_flags_match_what_forward_reads(name: str, infos: dict, batch: dict) -> None:
    model = create_model(name, infos, **SMALL)
    minimal = {"images": batch["images"]}
    if model.needs_behavior:
        minimal["behavior"] = batch["behavior"]
    if model.needs_eye_position:
        minimal["pupil_center"] = batch["pupil_center"]
    assert model(minimal, "1-2-3").shape == (3, 6)
