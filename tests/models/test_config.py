"""Typed configs: overrides, errors with did-you-mean, JSON round trip, registries."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from model_helpers import SMALL, shipped_models
from neurotwin.errors import NeurotwinError
from neurotwin.models import (
    ConfigError,
    Core,
    TwinConfig,
    TwinModule,
    config_from_dict,
    config_to_dict,
    create_model,
    default_config,
    list_cores,
    list_models,
    register_core,
    register_model,
)
from neurotwin.models import registry as registry_module
from neurotwin.models.cores import StackedCoreConfig
from neurotwin.models.readouts import FactorizedReadoutConfig


def test_flat_nested_dotted_and_switch_overrides(infos: dict) -> None:
    model = create_model(
        "sensorium",
        infos,
        hidden_channels=8,
        core={"layers": 2},
        **{"readout.init_sigma": 0.2},
        shifter=True,
        nonlinearity="softplus",
    )
    cfg = model.config
    assert cfg.core.hidden_channels == 8 and cfg.core.layers == 2
    assert cfg.readout.init_sigma == 0.2
    assert cfg.shifter.enabled and model.needs_eye_position
    assert cfg.nonlinearity == "softplus"
    assert default_config("sensorium").core.hidden_channels == 64  # defaults untouched


def test_ints_are_accepted_for_floats(infos: dict) -> None:
    model = create_model("sensorium", infos, gamma_input=1, **SMALL)
    assert model.config.core.gamma_input == 1.0 and isinstance(model.config.core.gamma_input, float)


def test_unknown_field_names_the_known_ones_with_a_guess(infos: dict) -> None:
    with pytest.raises(ConfigError) as error:
        create_model("sensorium", infos, hiden_channels=8)
    message = str(error.value)
    assert "'hiden_channels'" in message and "did you mean 'hidden_channels'" in message
    assert "core.hidden_channels" in message and "readout.init_sigma" in message
    assert isinstance(error.value, NeurotwinError)
    with pytest.raises(
        ConfigError, match=r"sensorium.core config field 'layer' \(did you mean 'layers'"
    ):
        create_model("sensorium", infos, **{"core.layer": 3})
    with pytest.raises(ConfigError, match=r"unknown sensorium.core config field 'depth'"):
        create_model("sensorium", infos, core={"depth": 3})


def test_wrong_types_are_named(infos: dict) -> None:
    with pytest.raises(ConfigError, match=r"sensorium.core.hidden_channels must be int, got '8'"):
        create_model("sensorium", infos, hidden_channels="8")
    with pytest.raises(ConfigError, match=r"must be bool"):
        create_model("sensorium", infos, behavior_channels=1)
    with pytest.raises(ConfigError, match=r"must be int, got 2.5"):
        create_model("sensorium", infos, layers=2.5)
    with pytest.raises(ConfigError, match=r"sensorium.shifter is a section"):
        create_model("sensorium", infos, shifter=5)
    with pytest.raises(NeurotwinError, match=r"nonlinearity must be one of"):
        create_model("sensorium", infos, nonlinearity="relu")
    with pytest.raises(NeurotwinError, match=r"hidden_kern must be odd"):
        create_model("sensorium", infos, hidden_kern=4)


def test_ambiguous_flat_names_ask_for_a_section(infos: dict) -> None:
    with pytest.raises(ConfigError, match=r"ambiguous.*shifter.hidden_features.*modulator"):
        create_model("sensorium", infos, hidden_features=3)


def test_factorized_readout_refuses_a_shifter(infos: dict) -> None:
    with pytest.raises(NeurotwinError, match=r"cannot apply an eye-position shift"):
        create_model("sensorium-factorized", infos, shifter=True)


def test_switching_the_readout_type_resets_its_section(infos: dict) -> None:
    model = create_model("sensorium", infos, readout_type="factorized", gamma_readout=0.5, **SMALL)
    assert isinstance(model.config.readout, FactorizedReadoutConfig)
    assert model.config.readout.gamma_readout == 0.5
    with pytest.raises(NeurotwinError, match=r"unknown readout 'gausian'.*did you mean 'gaussian'"):
        create_model("sensorium", infos, readout_type="gausian")


@pytest.mark.parametrize("name", shipped_models())
def test_configs_round_trip_through_json(name: str) -> None:
    cfg = default_config(name)
    text = json.dumps(config_to_dict(cfg))
    assert config_from_dict(type(cfg), json.loads(text)) == cfg


def test_a_saved_config_dict_recreates_the_model(infos: dict) -> None:
    model = create_model("sensorium+", infos, hidden_channels=8, layers=2)
    saved = json.loads(json.dumps(config_to_dict(model.config)))
    assert create_model("sensorium+", infos, **saved).config == model.config


def test_unknown_model_has_a_guess(infos: dict) -> None:
    with pytest.raises(NeurotwinError, match=r"unknown model 'sensorium-plus'.*did you mean"):
        create_model("sensorium-plus", infos)


@dataclass(frozen=True)
class TinyCoreConfig:
    channels: int = 4


class TinyCore(Core):
    config_class = TinyCoreConfig

    def __init__(self, config: TinyCoreConfig, input_channels: int) -> None:
        super().__init__()
        self.input_channels = input_channels
        self.out_channels = config.channels
        self.conv = nn.Conv2d(input_channels, config.channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.elu(self.conv(x))


def test_a_new_core_and_model_take_a_few_lines(
    infos: dict, batch: dict, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setattr(registry_module, "_CORES", dict(registry_module._CORES))
    monkeypatch.setattr(registry_module, "_MODELS", dict(registry_module._MODELS))
    register_core("tiny")(TinyCore)

    @register_model("tiny-twin")
    def tiny_twin() -> TwinConfig:
        """A tiny core and the kit's readout."""
        return TwinConfig(core_type="tiny", core=TinyCoreConfig())

    assert "tiny" in list_cores() and "tiny-twin" in list_models()
    model = create_model("tiny-twin", infos, channels=3)
    assert model(batch, "1-2-3").shape == (3, 6)
    rf = model.receptive_field_positions("1-2-3")  # default output_to_input: same size
    assert rf.shape == (6, 2) and rf.min() >= 0 and rf[:, 0].max() <= 15
    from neurotwin.models import load_model, save_model

    loaded = load_model(save_model(model.eval(), tmp_path / "m.pt"))
    assert torch.equal(loaded(batch, "1-2-3"), model(batch, "1-2-3"))
    # switching back to the stacked core restores its config class
    back = create_model("tiny-twin", infos, core_type="stacked2d", hidden_channels=4)
    assert isinstance(back.config.core, StackedCoreConfig)


def test_registering_a_taken_name_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_module, "_MODELS", dict(registry_module._MODELS))

    def other() -> TwinConfig:
        return TwinConfig()

    with pytest.raises(NeurotwinError, match=r"already registered"):
        register_model("sensorium")(other)
    with pytest.raises(NeurotwinError, match=r"reserved"):
        register_model("ensemble")


@dataclass(frozen=True)
class MeanConfig:
    scale: float = 1.0


class MeanModel(TwinModule):
    """Predicts each neuron's mean response times a learned scale (a whole new model)."""

    config_class = MeanConfig

    def __init__(self, infos: dict, config: MeanConfig) -> None:
        super().__init__(infos)
        self.scale = nn.Parameter(torch.tensor(config.scale))

    stimulus_kind = "static"
    required_fields = ("images",)

    def features(self, batch: dict, key: str) -> torch.Tensor:
        return batch["images"]

    def head(self, features: torch.Tensor, batch: dict, key: str) -> torch.Tensor:
        info = self.check_key(key)
        mean = torch.as_tensor(info.mean_response, dtype=torch.float32)
        return (self.scale.abs() * mean).expand(len(features), -1)

    def regularizer(self, key: str) -> torch.Tensor:
        return torch.zeros(())

    def receptive_field_positions(self, key: str):
        return np.zeros((self.check_key(key).n_neurons, 2))


def test_a_whole_new_model_class_registers_and_saves(
    infos: dict, batch: dict, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    from neurotwin.models import load_model, save_model

    monkeypatch.setattr(registry_module, "_MODELS", dict(registry_module._MODELS))
    register_model("mean")(MeanModel)
    model = create_model("mean", infos, scale=2)
    assert model.config == MeanConfig(2.0)
    loaded = load_model(save_model(model, tmp_path / "mean.pt"))
    assert isinstance(loaded, MeanModel) and torch.equal(
        loaded(batch, "1-2-3"), model(batch, "1-2-3")
    )
    with pytest.raises(ConfigError, match=r"did you mean 'scale'"):
        create_model("mean", infos, scal=2)


def test_a_whole_new_model_class_meets_the_contract(infos: dict) -> None:
    from neurotwin.models import TwinModel

    model = MeanModel(infos, MeanConfig())
    assert isinstance(model, TwinModel) and model.required_fields == ("images",)
    assert not model.needs_behavior and model.receptive_field_positions("1-2-3") is not None
