"""Ensembles average their members and save like any model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from model_helpers import SMALL, make_info
from neurotwin.errors import NeurotwinError
from neurotwin.models import Ensemble, create_model, load_model, save_model


def test_ensemble_averages_members_and_round_trips(infos: dict, batch: dict, tmp_path: Path):
    torch.manual_seed(0)
    members = [
        create_model("sensorium", infos, **SMALL).eval(),
        create_model("sensorium+", infos, **SMALL).eval(),
        create_model("sensorium-ln", infos, **SMALL).eval(),
    ]
    ensemble = Ensemble(members).eval()
    assert ensemble.keys == ("1-2-3", "4-5-6")
    assert ensemble.needs_behavior and ensemble.needs_eye_position
    assert ensemble.config.members == ("sensorium", "sensorium+", "sensorium-ln")
    expected = sum(m(batch, "1-2-3") for m in members) / 3
    assert torch.allclose(ensemble(batch, "1-2-3"), expected)
    assert torch.isfinite(ensemble.regularizer("1-2-3"))
    rf = np.mean([m.receptive_field_positions("4-5-6") for m in members], axis=0)
    assert np.allclose(ensemble.receptive_field_positions("4-5-6"), rf)
    loaded = load_model(save_model(ensemble, tmp_path / "ensemble.pt"))
    assert isinstance(loaded, Ensemble) and len(loaded) == 3
    assert torch.equal(loaded(batch, "4-5-6"), ensemble(batch, "4-5-6"))


def test_members_must_agree(infos: dict) -> None:
    base = create_model("sensorium", infos, **SMALL)
    with pytest.raises(NeurotwinError, match=r"at least one member"):
        Ensemble([])
    other_keys = create_model("sensorium", {"1-2-3": infos["1-2-3"]}, **SMALL)
    with pytest.raises(NeurotwinError, match=r"member 1 .* predicts recordings 1-2-3; member 0"):
        Ensemble([base, other_keys])
    fewer = {**infos, "1-2-3": make_info("1-2-3", 5)}
    with pytest.raises(NeurotwinError, match=r"predicts 5 neurons for recording '1-2-3'; member 0"):
        Ensemble([base, create_model("sensorium", fewer, **SMALL)])
    info = infos["1-2-3"]
    renamed = {**infos, "1-2-3": type(info)(**{**info.to_dict(), "unit_ids": info.unit_ids + 1})}
    with pytest.raises(NeurotwinError, match=r"unit ids differ"):
        Ensemble([base, create_model("sensorium", renamed, **SMALL)])
