"""The twin as a source of predicted responses, and its size check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from model_helpers import SMALL
from neurotwin.data import open_recording
from neurotwin.models import RecordingInfo, create_model
from neurotwin.neuroreg import NeuroregError
from neurotwin.neuroreg.sources import recording_weights, twin_predictor
from tiny import write_static


def test_twin_predictor_and_weights_from_a_recording(tmp_path: Path) -> None:
    recording = open_recording(write_static(tmp_path / "rec", hw=(16, 24)))
    info = RecordingInfo.from_recording(recording, image_hw=(16, 24))
    model = create_model("sensorium+", {recording.key: info}, **SMALL)
    predict = twin_predictor(model, recording)
    stimuli = np.random.default_rng(0).integers(0, 256, (3, 16, 24), dtype=np.uint8)
    responses = predict(stimuli)
    assert responses.shape == (3, recording.n_neurons) and np.isfinite(responses).all()
    weights = recording_weights(predict, recording, (16, 24))
    assert weights.shape == (recording.n_neurons,) and (weights >= 0).all()
    with pytest.raises(NeuroregError, match="trained at image size 16x24"):
        predict(np.zeros((3, 8, 12), dtype=np.uint8))


def test_twin_target_is_cached_with_the_model_hash(tmp_path: Path) -> None:
    from neurotwin.models import save_model
    from neurotwin.neuroreg.experiment import twin_target

    where = write_static(tmp_path / "rec", hw=(16, 24))
    recording = open_recording(where)
    info = RecordingInfo.from_recording(recording, image_hw=(16, 24))
    first, second = tmp_path / "a.pt", tmp_path / "b.pt"
    for seed, path in enumerate((first, second)):
        torch.manual_seed(seed)
        save_model(create_model("sensorium", {recording.key: info}, **SMALL), path)
    stimuli = np.random.default_rng(0).integers(0, 256, (4, 16, 24), dtype=np.uint8)
    cache = tmp_path / "neural.npz"
    target = twin_target([first], [where], stimuli, cache)
    assert target.matrix.shape == (4, 4) and target.provenance["source"] == "twin"
    with pytest.raises(NeuroregError, match="other models than asked"):
        twin_target([second], [where], stimuli, cache)
    with pytest.raises(NeuroregError, match="one model per recording"):
        twin_target([first, second], [where], stimuli, tmp_path / "x.npz")
    with pytest.raises(NeuroregError, match="trained at image size 16x24"):
        twin_target([first], [where], stimuli[:, :8, :12].copy(), tmp_path / "y.npz")
