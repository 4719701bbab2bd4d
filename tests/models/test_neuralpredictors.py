"""Loading 2022 starting-kit checkpoints through the documented key map.

No real starting-kit checkpoint is available offline, so the state dicts here are built
in the test with the key names and shapes of neuralpredictors 0.3.0 (``Stacked2dCore``
with depth-separable layers, ``FullGaussian2d`` with a cortex mean predictor,
``MLPShifter``), filled with random values; the forward pass is then recomputed with
plain ``torch.nn.functional`` calls that follow the kit's layer definitions.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from model_helpers import make_batch, make_info
from neurotwin.errors import NeurotwinError
from neurotwin.models import TwinModel, create_model, load_kit_state_dict
from neurotwin.models.neuralpredictors import translate_key

C, N, KEY = 8, 6, "1-2-3"


def kit_state(*, in_channels: int = 4, layers: int = 4, shifter: bool = True) -> dict:
    g = torch.Generator().manual_seed(0)

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * 0.3

    state: dict[str, torch.Tensor] = {
        "core.features.layer0.conv.weight": rand(C, in_channels, 9, 9)
    }
    for i in range(layers):
        norm = f"core.features.layer{i}.norm"
        state[f"{norm}.weight"] = 1 + rand(C)
        state[f"{norm}.bias"] = rand(C)
        state[f"{norm}.running_mean"] = rand(C)
        state[f"{norm}.running_var"] = 0.5 + torch.rand(C, generator=g)
        state[f"{norm}.num_batches_tracked"] = torch.tensor(100)
        if i:
            ds = f"core.features.layer{i}.ds_conv"
            state[f"{ds}.in_depth_conv.weight"] = rand(C, C, 1, 1)
            state[f"{ds}.spatial_conv.weight"] = rand(C, 1, 7, 7)
            state[f"{ds}.out_depth_conv.weight"] = rand(C, C, 1, 1)
    state["core._input_weights_regularizer.laplace.filter"] = torch.tensor(
        [[[[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]]]]
    )
    readout = f"readout.{KEY}"
    state[f"{readout}.sigma"] = rand(1, N, 2, 2)
    state[f"{readout}._features"] = rand(1, C, 1, N)
    state[f"{readout}.bias"] = rand(N)
    state[f"{readout}.source_grid"] = torch.rand(N, 2, generator=g) * 2 - 1
    state[f"{readout}.mu_transform.0.weight"] = rand(30, 2)
    state[f"{readout}.mu_transform.0.bias"] = rand(30)
    state[f"{readout}.mu_transform.2.weight"] = rand(2, 30)
    state[f"{readout}.mu_transform.2.bias"] = rand(2)
    if shifter:
        for j, (out, inp) in zip((0, 2, 4), ((5, 2), (5, 5), (2, 5)), strict=True):
            state[f"shifter.{KEY}.mlp.{j}.weight"] = rand(out, inp)
            state[f"shifter.{KEY}.mlp.{j}.bias"] = rand(out)
    return state


def kit_forward(state: dict, batch: dict, *, layers: int = 4, linear: bool = False) -> torch.Tensor:
    """What the kit's FiringRateEncoder computes in eval mode, written out."""
    act = (lambda t: t) if linear else F.elu
    x = batch["images"]
    in_channels = state["core.features.layer0.conv.weight"].shape[1]
    if in_channels > 1:
        b, _, h, w = x.shape
        x = torch.cat([x, batch["behavior"][:, :, None, None].expand(b, 3, h, w)], dim=1)

    def norm(t: torch.Tensor, i: int) -> torch.Tensor:
        p = f"core.features.layer{i}.norm"
        return F.batch_norm(
            t,
            state[f"{p}.running_mean"],
            state[f"{p}.running_var"],
            state[f"{p}.weight"],
            state[f"{p}.bias"],
            training=False,
            eps=1e-5,
        )

    h = act(norm(F.conv2d(x, state["core.features.layer0.conv.weight"]), 0))
    for i in range(1, layers):
        ds = f"core.features.layer{i}.ds_conv"
        h = F.conv2d(h, state[f"{ds}.in_depth_conv.weight"])
        h = F.conv2d(h, state[f"{ds}.spatial_conv.weight"], padding=3, groups=C)
        h = F.conv2d(h, state[f"{ds}.out_depth_conv.weight"])
        h = act(norm(h, i))
    r = f"readout.{KEY}"
    hidden = F.elu(
        F.linear(
            state[f"{r}.source_grid"],
            state[f"{r}.mu_transform.0.weight"],
            state[f"{r}.mu_transform.0.bias"],
        )
    )
    mu = torch.tanh(
        F.linear(hidden, state[f"{r}.mu_transform.2.weight"], state[f"{r}.mu_transform.2.bias"])
    )
    grid = mu.clamp(-1, 1)[None].expand(len(x), N, 2)
    if f"shifter.{KEY}.mlp.0.weight" in state:
        s = batch["pupil_center"]
        for j in (0, 2, 4):
            s = torch.tanh(
                F.linear(
                    s, state[f"shifter.{KEY}.mlp.{j}.weight"], state[f"shifter.{KEY}.mlp.{j}.bias"]
                )
            )
        grid = grid + s[:, None, :]
    sampled = F.grid_sample(h, grid[:, :, None, :], align_corners=True).squeeze(-1)  # (B, C, N)
    y = (sampled * state[f"{r}._features"].view(1, C, N)).sum(1) + state[f"{r}.bias"]
    return F.elu(y) + 1


def test_key_map_examples() -> None:
    assert translate_key("core.features.layer2.ds_conv.spatial_conv.weight") == (
        "core.layers.2.conv.spatial.weight",
        False,
    )
    assert translate_key("core.features.layer0.norm.running_var") == (
        "core.layers.0.norm.running_var",
        False,
    )
    assert translate_key("readout.1-2-3._features") == ("readouts.1-2-3.features", True)
    assert translate_key("readout.1-2-3.mu_transform.2.bias") == (
        "readouts.1-2-3.position_net.2.bias",
        False,
    )
    assert translate_key("shifter.1-2-3.mlp.4.weight") == ("shifters.1-2-3.net.4.weight", False)
    assert translate_key("core._input_weights_regularizer.laplace.filter") == (None, False)
    with pytest.raises(KeyError):
        translate_key("core.features.layer1.ds_conv.pointwise.weight")


def test_sota_plus_checkpoint_loads_and_predicts_like_the_kit(tmp_path: Path) -> None:
    state = kit_state()
    path = tmp_path / "sensorium_p_sota_model.pth"
    torch.save({f"module.{k}": v for k, v in state.items()}, path)  # DataParallel prefix too
    infos = {KEY: make_info(KEY, N)}
    model = load_kit_state_dict(path, infos)
    assert model.name == "sensorium+" and not model.training
    core = model.config.core
    assert (core.hidden_channels, core.layers, core.input_kern, core.hidden_kern) == (C, 4, 9, 7)
    assert model.config.behavior_channels and model.config.shifter.enabled
    assert torch.equal(
        model.core.layers[3].conv.out_depth.weight,
        state["core.features.layer3.ds_conv.out_depth_conv.weight"],
    )
    readout = model.readouts[KEY]
    assert torch.equal(readout.features, state[f"readout.{KEY}._features"].view(C, N))
    assert torch.equal(readout.sigma, state[f"readout.{KEY}.sigma"][0])
    assert torch.equal(readout.source_grid, state[f"readout.{KEY}.source_grid"])
    assert torch.equal(
        model.core.layers[2].norm.running_var, state["core.features.layer2.norm.running_var"]
    )
    # our behaviour planes are scaled by 1/81, so their weights are stored 81 times larger
    assert model.config.behavior_channel_scale == pytest.approx(1 / 81)
    first = model.core.layers[0].conv.weight
    kit_first = state["core.features.layer0.conv.weight"]
    assert torch.equal(first[:, :1], kit_first[:, :1])
    assert torch.allclose(first[:, 1:], kit_first[:, 1:] * 81)
    batch = make_batch(4, seed=5)
    with torch.no_grad():
        assert torch.allclose(model(batch, KEY), kit_forward(state, batch), atol=1e-5)
    as_kit = load_kit_state_dict(state, infos, behavior_channel_scale=1.0)
    assert torch.equal(as_kit.core.layers[0].conv.weight, kit_first)
    with torch.no_grad():
        assert torch.allclose(as_kit(batch, KEY), kit_forward(state, batch), atol=1e-5)


def test_ln_checkpoint_needs_its_name_and_predicts_like_the_kit() -> None:
    state = kit_state(in_channels=1, layers=3, shifter=False)
    infos = {KEY: make_info(KEY, N)}
    guessed = load_kit_state_dict(state, infos)
    assert guessed.name == "sensorium"  # weights cannot tell an LN model apart
    model = load_kit_state_dict(state, infos, model="sensorium-ln")
    assert model.config.core.linear and model.config.core.layers == 3
    batch = make_batch(2, seed=6)
    with torch.no_grad():
        expected = kit_forward(state, batch, layers=3, linear=True)
        assert torch.allclose(model(batch, KEY), expected, atol=1e-5)


def test_filling_an_existing_model() -> None:
    state = kit_state()
    model = create_model("sensorium+", {KEY: make_info(KEY, N)}, hidden_channels=C)
    assert load_kit_state_dict(state, model) is model
    assert torch.equal(model.readouts[KEY].bias, state[f"readout.{KEY}.bias"])
    batch = make_batch(3, seed=7)
    with torch.no_grad():
        assert torch.allclose(model(batch, KEY), kit_forward(state, batch), atol=1e-5)


def test_misfits_are_reported_together() -> None:
    infos = {KEY: make_info(KEY, N)}
    extra = {**kit_state(), "core.features.layer1.ds_conv.pointwise.weight": torch.zeros(1)}
    with pytest.raises(NeurotwinError, match=r"no rule of the 2022 kit key map knows: .*pointwise"):
        load_kit_state_dict(extra, infos)
    lacking = kit_state()
    del lacking[f"readout.{KEY}.bias"]
    with pytest.raises(NeurotwinError, match=rf"missing readouts.{KEY}.bias"):
        load_kit_state_dict(lacking, infos)
    more_neurons = {KEY: make_info(KEY, N + 2)}
    with pytest.raises(
        NeurotwinError, match=rf"readouts.{KEY}.bias has shape \(6,\), expected \(8,\)"
    ):
        load_kit_state_dict(kit_state(), more_neurons)
    no_coords = {KEY: make_info(KEY, N, coords=False)}
    with pytest.raises(NeurotwinError, match=r"unexpected .*source_grid"):
        load_kit_state_dict(kit_state(), no_coords)
    with pytest.raises(NeurotwinError, match=r"layer0.conv.weight is missing"):
        load_kit_state_dict({"x": torch.zeros(1)}, infos)


def test_kit_weights_record_the_kits_preprocessing() -> None:
    info = make_info(KEY, N, hw=(18, 32))
    converted = load_kit_state_dict(kit_state(), {KEY: info})
    assert converted.infos[KEY].preprocessing == "kit"  # predictions then use the kit's rescale
    own = load_kit_state_dict(kit_state(), {KEY: info}, preprocessing="neurotwin")
    assert own.infos[KEY].preprocessing == "neurotwin"
    assert create_model("sensorium+", {KEY: info}).infos[KEY].preprocessing == "neurotwin"


def test_converted_models_meet_the_contract() -> None:
    model = load_kit_state_dict(kit_state(), {KEY: make_info(KEY, N)})
    assert isinstance(model, TwinModel) and model.infos[KEY].preprocessing == "kit"
    assert model.required_fields == ("images", "behavior", "pupil_center")
