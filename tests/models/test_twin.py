"""The composed model: inputs, errors, behaviour, shifter, nonlinearity, memory format."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model_helpers import SMALL, make_batch, make_info
from neurotwin.errors import NeurotwinError
from neurotwin.models import create_model


def test_kit_baselines_read_what_the_kit_read(infos: dict) -> None:
    plain = create_model("sensorium", infos, **SMALL)
    plus = create_model("sensorium+", infos, **SMALL)
    assert not plain.needs_behavior and not plain.needs_eye_position
    assert plus.needs_behavior and plus.needs_eye_position
    assert plus.core.first_weight.shape[1] == 4  # image + 3 behaviour channels
    assert plain.core.first_weight.shape[1] == 1
    ln_plus = create_model("sensorium+-ln", infos, **SMALL)
    assert ln_plus.needs_behavior and not ln_plus.needs_eye_position
    assert len(ln_plus.core.layers) == 3


def test_behaviour_channels_are_constant_planes(infos: dict, batch: dict) -> None:
    model = create_model("sensorium+", infos, **SMALL)
    x = model.core_input(batch)
    assert x.shape == (3, 4, 16, 24)
    assert torch.equal(x[:, 0], batch["images"][:, 0])
    # sensorium+ averages the behaviour over the 9x9 first filter instead of summing it
    assert model.config.behavior_channel_scale == pytest.approx(1 / 81)
    assert torch.allclose(x[:, 1:, 5, 7], batch["behavior"] / 81)
    assert torch.equal(x[:, 1:].amax(dim=(2, 3)), x[:, 1:].amin(dim=(2, 3)))
    kit = create_model("sensorium+", infos, behavior_channel_scale=1.0, **SMALL)
    assert torch.equal(kit.core_input(batch)[:, 1:, 5, 7], batch["behavior"])
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(NeurotwinError, match="behavior_channel_scale must be a positive"):
            create_model("sensorium+", infos, behavior_channel_scale=bad, **SMALL)


def test_missing_fields_and_unknown_keys_are_named(infos: dict, batch: dict) -> None:
    model = create_model("sensorium+", infos, **SMALL)
    with pytest.raises(NeurotwinError, match=r"'pupil_center'"):
        model({"images": batch["images"], "behavior": batch["behavior"]}, "1-2-3")
    with pytest.raises(NeurotwinError, match=r"'behavior'"):
        model({"images": batch["images"]}, "1-2-3")
    with pytest.raises(NeurotwinError, match=r"'images'"):
        model({"behavior": batch["behavior"]}, "1-2-3")
    with pytest.raises(NeurotwinError, match=r"no readout for recording key '9-9-9'.*1-2-3"):
        model(batch, "9-9-9")
    with pytest.raises(NeurotwinError, match=r"expected \(B, 1, H, W\)"):
        model({**batch, "images": batch["images"][:, 0]}, "1-2-3")


def test_gain_modulator_starts_at_one(infos: dict, batch: dict) -> None:
    torch.manual_seed(0)
    gain = create_model("sensorium+-gain", infos, **SMALL).eval()
    rates = gain(batch, "1-2-3")
    modulator = gain.modulators["1-2-3"]
    assert torch.allclose(modulator.gain(batch["behavior"]), torch.ones(3, 6))
    gain.modulators["1-2-3"].out.bias.data.fill_(2.0)
    assert torch.all(gain(batch, "1-2-3") > rates)


def test_shifter_moves_the_readout_positions(infos: dict) -> None:
    model = create_model("sensorium+", infos, **SMALL).eval()
    last = model.shifters["1-2-3"].net[-2]
    last.weight.data.zero_()
    last.bias.data = torch.tensor([0.5, -0.5])  # shift (dx, dy) = tanh of these
    rf = model.receptive_field_positions("1-2-3")
    unshifted = model.readouts["1-2-3"].positions().detach().numpy()  # output-grid pixels
    crop = 4  # the unpadded 9x9 first layer: feature (r, c) sits at input (r + 4, c + 4)
    out_h, out_w = 16 - 8, 24 - 8
    dx, dy = np.tanh(0.5), np.tanh(-0.5)
    expected = unshifted + crop + [dy * (out_h - 1) / 2, dx * (out_w - 1) / 2]
    assert np.allclose(rf, expected, atol=1e-5)


def test_bias_makes_an_untrained_model_predict_about_the_mean(batch: dict) -> None:
    info = make_info("1-2-3", 50)
    model = create_model("sensorium", {"1-2-3": info}, **SMALL).eval()
    readout = model.readouts["1-2-3"]
    readout.features.data.zero_()
    assert np.allclose(model(batch, "1-2-3")[0].detach().numpy(), info.mean_response, rtol=1e-5)


def test_missing_mean_responses_do_not_poison_the_bias(batch: dict) -> None:
    info = make_info("1-2-3", 4)
    info = type(info)(**{**info.to_dict(), "mean_response": [np.nan, 0.5, 2.0, 0.0]})
    model = create_model("sensorium", {"1-2-3": info}, **SMALL)
    assert torch.isfinite(model(batch, "1-2-3")).all()


def test_softplus_nonlinearity(infos: dict, batch: dict) -> None:
    model = create_model("sensorium", infos, nonlinearity="softplus", **SMALL)
    assert torch.all(model(batch, "4-5-6") > 0)


def test_channels_last_gives_the_same_predictions(infos: dict) -> None:
    torch.manual_seed(0)
    batch = make_batch(4, seed=3)
    for name in ("sensorium", "sensorium+"):
        model = create_model(name, infos, **SMALL).eval()
        expected = model(batch, "1-2-3")
        model = model.to(memory_format=torch.channels_last)
        images = batch["images"].contiguous(memory_format=torch.channels_last)
        features = model.core(model.core_input({**batch, "images": images}))
        assert features.is_contiguous(memory_format=torch.channels_last)
        got = model({**batch, "images": images}, "1-2-3")
        assert torch.allclose(got, expected, atol=1e-5)


def test_recordings_may_differ_in_image_size(batch: dict) -> None:
    infos = {"1-1-1": make_info("1-1-1", 3), "2-2-2": make_info("2-2-2", 3, hw=(20, 30))}
    model = create_model("sensorium", infos, **SMALL)
    assert model(make_batch(2, hw=(20, 30)), "2-2-2").shape == (2, 3)


def test_images_too_small_for_the_first_layer() -> None:
    with pytest.raises(NeurotwinError, match=r"too small"):
        create_model("sensorium", {"1-1-1": make_info("1-1-1", 3, hw=(6, 8))}, **SMALL)
