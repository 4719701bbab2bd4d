"""The twin as a source of predicted responses, and its size check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model_helpers import SMALL
from neurotwin.data import open_recording
from neurotwin.models import RecordingInfo, create_model
from neurotwin.neuroreg import NeuroregError
from neurotwin.neuroreg.target import recording_weights, twin_predictor
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
