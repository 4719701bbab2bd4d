"""The model contract: an abstract base, a protocol every model meets, no registry loop."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from model_helpers import SMALL
from neurotwin.errors import NeurotwinError
from neurotwin.models import (
    Ensemble,
    TwinModel,
    TwinModule,
    create_model,
    list_pretrained,
    load_pretrained,
)

MODELS = Path(__file__).parents[2] / "src" / "neurotwin" / "models"


def test_every_kind_of_model_meets_the_protocol(infos: dict, batch: dict) -> None:
    plus = create_model("sensorium+", infos, **SMALL)
    plain = create_model("sensorium", infos, **SMALL)
    from train.standin import StandIn, StandInConfig

    standin = StandIn(infos, StandInConfig())  # converted and custom models: their test files
    models = [plus, plain, Ensemble([plus, plain]), standin]
    for model in models:
        assert isinstance(model, TwinModel), type(model).__name__
        assert model.stimulus_kind == "static" and model.temporal_context == 0
        assert model.required_fields[0] == "images"
    assert plus.required_fields == ("images", "behavior", "pupil_center")
    assert plain.required_fields == ("images",)
    assert Ensemble([plain, plus]).required_fields == ("images", "behavior", "pupil_center")
    gain = create_model("sensorium+-gain", infos, **SMALL)
    assert gain.required_fields == ("images", "behavior", "pupil_center")
    assert create_model("sensorium+-ln", infos, **SMALL).required_fields == ("images", "behavior")


def test_forward_is_head_of_features(infos: dict, batch: dict) -> None:
    torch.manual_seed(0)
    model = create_model("sensorium+", infos, **SMALL).eval()
    features = model.features(batch, "1-2-3")
    assert features.shape[:2] == (3, 8)  # the core's feature maps
    assert torch.equal(model.head(features, batch, "1-2-3"), model(batch, "1-2-3"))
    ensemble = Ensemble([model, create_model("sensorium+", infos, **SMALL).eval()])
    stacked = ensemble.features(batch, "4-5-6")
    assert stacked.shape == (2, 3, 4)
    assert torch.allclose(ensemble(batch, "4-5-6"), stacked.mean(0))


def test_the_base_is_abstract_and_has_defaults(infos: dict) -> None:
    with pytest.raises(TypeError, match="abstract"):
        TwinModule(infos)  # type: ignore[abstract]

    class Constant(TwinModule):
        stimulus_kind = "static"
        required_fields = ("images",)

        def features(self, batch, key):
            return batch["images"].flatten(1).mean(1, keepdim=True)

        def head(self, features, batch, key):
            return features.expand(-1, self.check_key(key).n_neurons).exp()

    model = Constant(infos)
    assert isinstance(model, TwinModel)
    assert not model.needs_behavior and not model.needs_eye_position
    assert float(model.regularizer("1-2-3")) == 0.0
    assert model.receptive_field_positions("1-2-3") is None
    with pytest.raises(NeurotwinError, match="no readout"):
        model.regularizer("9-9-9")


def test_ensemble_members_must_agree_on_the_stimulus_kind(infos: dict) -> None:
    class Video(TwinModule):
        stimulus_kind = "video"
        required_fields = ("videos",)

        def features(self, batch, key):
            return batch["videos"]

        def head(self, features, batch, key):
            return features

    with pytest.raises(
        NeurotwinError, match=r"member 1 .*takes video stimuli; member 0 .*takes static stimuli"
    ):
        Ensemble([create_model("sensorium", infos, **SMALL), Video(infos)])


def test_the_registry_imports_no_model_composition() -> None:
    tree = ast.parse((MODELS / "registry.py").read_text())
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert not imported & {"neurotwin.models.twin", "neurotwin.models.baselines"}, imported


@pytest.mark.parametrize("name", list_pretrained())
def test_shipped_weights_carry_their_normalisation(name: str) -> None:
    model = load_pretrained(name)
    for key, info in model.infos.items():
        assert info.normalization is not None, key
        released = (36, 64) if model.stimulus_kind == "video" else (144, 256)  # frame sizes
        assert info.normalization.stimulus_hw == released
        scale = info.normalization.response_scale
        assert scale.shape == (info.n_neurons,) and np.all(scale > 0)
