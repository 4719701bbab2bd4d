"""Saved models: the format, clear errors, compatibility with recordings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from model_helpers import SMALL, make_info
from neurotwin.data import open_recording, static_loaders
from neurotwin.errors import NeurotwinError
from neurotwin.models import (
    FORMAT,
    RecordingInfo,
    check_compatible,
    create_model,
    load_model,
    model_from_state,
    model_to_state,
    recording_infos,
    save_model,
)
from neurotwin.train.checkpoint import save_checkpoint
from tiny import write_static


def test_state_holds_name_config_infos_and_weights(infos: dict) -> None:
    model = create_model("sensorium+", infos, **SMALL)
    state = model_to_state(model)
    assert state["format"] == FORMAT and state["version"] == 1 and state["name"] == "sensorium+"
    assert state["config"]["core"]["hidden_channels"] == 8
    assert RecordingInfo.from_dict(state["infos"]["1-2-3"]) == infos["1-2-3"]
    rebuilt = model_from_state(state)
    assert rebuilt.infos == model.infos and rebuilt.config == model.config


def test_a_config_saved_before_a_field_existed_gets_the_class_default(infos: dict) -> None:
    # sensorium+ now scales its behaviour planes by 1/81; a model saved before the field
    # existed was trained with the kit's scale 1 and must be rebuilt with it
    model = create_model("sensorium+", infos, **SMALL)
    state = model_to_state(model)
    del state["config"]["behavior_channel_scale"]
    assert model_from_state(state).config.behavior_channel_scale == 1.0
    assert model_from_state(model_to_state(model)).config == model.config


def test_not_a_model_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file at all")
    with pytest.raises(NeurotwinError, match=r"junk.pt is not a neurotwin model file"):
        load_model(junk)
    other = tmp_path / "other.pt"
    torch.save({"weights": [1, 2, 3]}, other)
    with pytest.raises(NeurotwinError, match=r"other.pt is not a neurotwin model$"):
        load_model(other)
    bare = tmp_path / "bare.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), bare)
    with pytest.raises(NeurotwinError, match=r"bare state_dict.*load_kit_state_dict"):
        load_model(bare)
    training = tmp_path / "checkpoint.pt"
    save_checkpoint(training, {"epoch": 1, "model": {}})
    with pytest.raises(
        NeurotwinError,
        match=r"checkpoint.pt is not a neurotwin model but a "
        r"training checkpoint: the trained model is model.pt",
    ):
        load_model(training)
    with pytest.raises(NeurotwinError, match=r"no such model file"):
        load_model(tmp_path / "missing.pt")


def test_newer_format_and_unknown_registry_name(infos: dict, tmp_path: Path) -> None:
    state = model_to_state(create_model("sensorium", infos, **SMALL))
    newer = tmp_path / "newer.pt"
    torch.save({**state, "version": 99}, newer)
    with pytest.raises(NeurotwinError, match=r"format version 99; this neurotwin reads up to 1"):
        load_model(newer)
    renamed = tmp_path / "renamed.pt"
    torch.save({**state, "name": "sensorium-v9"}, renamed)
    with pytest.raises(NeurotwinError, match=r"saved model 'sensorium-v9' is not registered"):
        load_model(renamed)


def test_weights_of_another_model_are_refused_in_one_message(infos: dict) -> None:
    small = model_to_state(create_model("sensorium", infos, **SMALL))
    plus = model_to_state(create_model("sensorium+", infos, **SMALL))
    mixed = {**small, "state_dict": plus["state_dict"]}
    with pytest.raises(NeurotwinError) as error:
        model_from_state(mixed, "mixed.pt")
    message = str(error.value)
    assert "mixed.pt holds the weights of another model than 'sensorium'" in message
    assert "unexpected shifters.1-2-3.net.0.weight" in message
    assert "core.layers.0.conv.weight has shape (8, 4, 9, 9), expected (8, 1, 9, 9)" in message
    wide = model_to_state(create_model("sensorium", infos, hidden_channels=16))
    with pytest.raises(NeurotwinError, match=r"shape mismatch"):
        model_from_state({**small, "state_dict": wide["state_dict"]})
    partial = {**small, "state_dict": dict(list(small["state_dict"].items())[1:])}
    with pytest.raises(NeurotwinError, match=r"missing core.layers.0.conv.weight"):
        model_from_state(partial)


def test_check_compatible_names_the_mismatch(infos: dict) -> None:
    model = create_model("sensorium", infos, **SMALL)
    check_compatible(model, infos["1-2-3"])
    fewer = make_info("1-2-3", 5)
    with pytest.raises(
        NeurotwinError, match=r"has 5 neurons, the readout of key '1-2-3' expects 6$"
    ):
        check_compatible(model, fewer)
    info = infos["1-2-3"]
    other_ids = RecordingInfo(
        key=info.key,
        n_neurons=6,
        unit_ids=np.arange(6) + 200,
        coordinates=None,
        mean_response=info.mean_response,
        image_hw=info.image_hw,
    )
    with pytest.raises(NeurotwinError, match=r"6 unit ids are unknown to the readout"):
        check_compatible(model, other_ids)
    shuffled = RecordingInfo(**{**info.to_dict(), "unit_ids": info.unit_ids[::-1]})
    with pytest.raises(NeurotwinError, match=r"another order"):
        check_compatible(model, shuffled)
    with pytest.raises(NeurotwinError, match=r"has readouts for 1-2-3, 4-5-6 only"):
        check_compatible(model, make_info("7-7-7", 6))


def test_a_real_recording_end_to_end(tmp_path: Path) -> None:
    """Infos from the recording, loaders with what the model needs, predictions, checks."""
    path = write_static(tmp_path / "rec", hw=(32, 48))
    infos = recording_infos([path], scale=0.5)
    (key,) = infos
    info = infos[key]
    recording = open_recording(path)
    assert info.image_hw == (16, 24) and info.n_neurons == 7
    assert np.array_equal(info.unit_ids, np.arange(7) + 100)
    stats = recording.statistics("responses")
    assert np.allclose(info.mean_response * stats["std"], stats["mean"])  # std > 1% floor
    model = create_model("sensorium+", infos, **SMALL)
    loaders = static_loaders(
        [path],
        4,
        scale=0.5,
        include_behavior=model.needs_behavior,
        include_eye_position=model.needs_eye_position,
        progress=False,
    )
    batch = next(iter(loaders["train"][key]))
    assert model(batch, key).shape == (4, 7)
    check_compatible(model, recording)
    check_compatible(model, path)
    other = write_static(tmp_path / "other", n_neurons=5, hw=(32, 48))
    with pytest.raises(NeurotwinError, match=r"has 5 neurons, the readout of key .* expects 7"):
        check_compatible(model, other)
    loaded = load_model(save_model(model, tmp_path / "model.pt"))
    assert loaded.infos == infos


def test_info_validation() -> None:
    with pytest.raises(NeurotwinError, match=r"unit_ids has 3 entries, expected 4"):
        RecordingInfo("k", 4, np.arange(3), None, np.zeros(4), (8, 8))
    with pytest.raises(NeurotwinError, match=r"coordinates has shape \(3, 3\), expected \(4, 3\)"):
        RecordingInfo("k", 4, np.arange(4), np.zeros((3, 3)), np.zeros(4), (8, 8))
    with pytest.raises(
        NeurotwinError, match=r"lacks unit_ids, coordinates, mean_response, image_hw$"
    ):
        RecordingInfo.from_dict({"key": "k", "n_neurons": 1})


class _NotAModel:
    """Stands for any pickled object a model file never holds."""


def test_a_pickle_of_objects_is_refused_without_advising_weights_only_false(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"state": _NotAModel()}, path)
    with pytest.raises(NeurotwinError, match="holds Python objects") as info:
        load_model(path)
    assert "weights_only" not in str(info.value)
