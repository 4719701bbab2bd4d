"""video-dwise: the depthwise-separable 3D core, both readouts, saving, sliding-window inference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from model_helpers import TINY_DWISE, make_info
from neurotwin.errors import NeurotwinError
from neurotwin.models import (
    RecordingInfo,
    TwinModel,
    create_model,
    default_config,
    list_models,
    load_model,
    save_model,
)
from neurotwin.models.video_dwise import DwiseCore, DwiseTwin
from neurotwin.models.video_inference import (
    predict_batch,
    predict_trial,
    predict_trial_sliding,
    window_starts,
)

HW = (10, 14)
#: TINY_DWISE with its windows sliding by 3 frames and no dropout in the pooled readout.
TINY: dict[str, Any] = {
    "core": {**TINY_DWISE["core"], "slide_step": 3},
    "pooled": {"dropout": 0.0},
}
VARIANTS = ("pooled", "gaussian")


def _info(key: str, n: int, seed: int = 0) -> RecordingInfo:
    return RecordingInfo(**{**make_info(key, n, hw=HW, seed=seed).to_dict(), "behavior_dim": 2})


@pytest.fixture(scope="module")
def infos() -> dict[str, RecordingInfo]:
    return {"7-1-1": _info("7-1-1", 5), "7-2-1": _info("7-2-1", 3, seed=1)}


def _model(infos: dict[str, RecordingInfo], readout: str = "pooled") -> DwiseTwin:
    torch.manual_seed(0)
    model = create_model("video-dwise", infos, readout_kind=readout, **TINY)
    assert isinstance(model, DwiseTwin)
    return model


def _batch(b: int, t: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "videos": torch.randn(b, 1, t, *HW, generator=g),
        "behavior": torch.rand(b, 2, t, generator=g),
        "pupil_center": torch.randn(b, 2, t, generator=g),
    }


def test_registered_with_the_winners_sizes() -> None:
    assert {"video-dwise", "video-dwise-small"} <= set(list_models())
    config = default_config("video-dwise")
    core = config.core
    assert core.widths == (64, 64, 64, 64, 128, 128, 128, 256, 256)
    assert core.strides == (2, 1, 1, 1, 2, 1, 1, 2, 1)
    assert (core.window, core.frame_stride, core.window_frames) == (16, 2, 32)
    assert core.cortex_channels == (1024, 2048, 4096)
    assert (config.pooled.dropout, config.pooled.groups, config.pooled.softplus_beta) == (
        0.4, 2, 0.07
    )  # fmt: skip
    # 36 x 64 frames padded to 64 x 64, strided to 8 x 8; 1 + 2 behaviour + 2 pupil channels
    winner = DwiseCore(core, 5)
    assert winner.output_hw((36, 64)) == (8, 8)
    assert winner.out_channels == 256
    assert default_config("video-dwise-small").core.widths == (8, 8, 16, 16)


@pytest.mark.parametrize("readout", VARIANTS)
def test_forward_backward_save_load(
    infos: dict[str, RecordingInfo], readout: str, tmp_path: Path
) -> None:
    model = _model(infos, readout)
    assert isinstance(model, TwinModel)
    assert model.temporal_context == 0 and model.window_frames == 8
    assert model.required_fields == ("videos", "behavior", "pupil_center")
    batch = _batch(3, 8)
    out = model(batch, "7-2-1")
    assert out.shape == (3, 8, 3) and bool((out > 0).all())
    (out.sum() + model.regularizer("7-2-1")).backward()
    used = [p for n, p in model.named_parameters() if "7-1-1" not in n]
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in used)

    model.eval()
    path = save_model(model, tmp_path / f"{readout}.pt")
    loaded = load_model(path)
    assert isinstance(loaded, DwiseTwin) and loaded.config == model.config
    loaded.eval()
    with torch.no_grad():
        for key in infos:
            torch.testing.assert_close(loaded(batch, key), model(batch, key))


def test_readout_centres_only_for_the_gaussian_readout(infos: dict[str, RecordingInfo]) -> None:
    assert _model(infos, "pooled").receptive_field_positions("7-1-1") is None
    centres = _model(infos, "gaussian").receptive_field_positions("7-1-1")
    assert centres is not None and centres.shape == (5, 2)
    # the padding to a square (14 x 14, 2 rows on top) is undone: centres near the frame
    assert (centres[:, 0] > -3).all() and (centres[:, 0] < HW[0] + 3).all()


def test_sliding_equals_full_window_inference(infos: dict[str, RecordingInfo]) -> None:
    model = _model(infos).eval()
    batch = _batch(1, 8, seed=3)
    with torch.no_grad():
        full = model(batch, "7-1-1")[0].numpy()
    trial = predict_trial_sliding(
        model,
        "7-1-1",
        batch["videos"][0].numpy(),
        behavior=batch["behavior"][0].numpy(),
        pupil_center=batch["pupil_center"][0].numpy(),
    )
    np.testing.assert_allclose(trial, full, rtol=1e-5, atol=1e-6)  # one window: one pass

    # a longer trial: each frame the mean of the windows (starts 0, 3, 6, 9, 12) holding it
    long = _batch(1, 20, seed=4)
    assert window_starts(20, 8, 3) == [0, 3, 6, 9, 12]
    total, count = np.zeros((20, 5)), np.zeros((20, 1))
    with torch.no_grad():
        for s in window_starts(20, 8, 3):
            piece = {k: v[:, :, s : s + 8] for k, v in long.items()}
            total[s : s + 8] += model(piece, "7-1-1")[0].numpy()
            count[s : s + 8] += 1
    series = {k: long[k][0].numpy() for k in ("behavior", "pupil_center")}
    slid = predict_trial_sliding(model, "7-1-1", long["videos"][0].numpy(), **series)
    np.testing.assert_allclose(slid, total / count, rtol=1e-5, atol=1e-6)
    # the chunked entry point dispatches to it for a fixed-window model
    chunked = predict_trial(model, "7-1-1", long["videos"][0].numpy(), **series, chunk_frames=5)
    np.testing.assert_array_equal(chunked, slid)
    with pytest.raises(NeurotwinError, match=r"step must lie in 1\.\.8"):
        predict_trial_sliding(model, "7-1-1", long["videos"][0].numpy(), **series, step=9)


def test_trials_of_unequal_length(infos: dict[str, RecordingInfo]) -> None:
    model = _model(infos).eval()
    batch = _batch(2, 19, seed=5)
    lengths = torch.tensor([19, 13])
    padded = {k: v.clone() for k, v in batch.items()}
    padded["videos"][1, :, 13:] = 0.0  # the loaders' zero padding
    with torch.no_grad():
        rates = predict_batch(model, {**padded, "length": lengths}, "7-2-1")
    assert rates.shape == (2, 19, 3) and bool(torch.isfinite(rates).all())
    # the short trial is predicted from its own 13 frames: padding reaches no true frame
    video = batch["videos"][1, 0].numpy().copy()
    video[13:] = np.nan  # the release's NaN padding
    series = {k: batch[k][1].numpy() for k in ("behavior", "pupil_center")}
    own = predict_trial(model, "7-2-1", video, **series)
    assert np.isnan(own[13:]).all()
    np.testing.assert_allclose(rates[1, :13].numpy(), own[:13], rtol=1e-5, atol=1e-6)
    whole = predict_trial(model, "7-2-1", batch["videos"][0, 0].numpy(), **{
        k: batch[k][0].numpy() for k in ("behavior", "pupil_center")
    })  # fmt: skip
    np.testing.assert_allclose(rates[0].numpy(), whole, rtol=1e-5, atol=1e-6)


def test_channels_last_3d_gives_the_same_predictions(infos: dict[str, RecordingInfo]) -> None:
    model = _model(infos).eval()
    batch = _batch(2, 8, seed=6)
    with torch.no_grad():
        plain = model(batch, "7-1-1")
        model.to(memory_format=torch.channels_last_3d)  # type: ignore[call-overload]
        videos = batch["videos"].contiguous(memory_format=torch.channels_last_3d)
        fast = model({**batch, "videos": videos}, "7-1-1")
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"core": {"strides": (2,)}}, "core.strides needs 2 positive values"),
        ({"core": {"temporal_kernel": 4}}, "positive odd number"),
        ({"core": {"slide_step": 9}}, r"slide_step must lie in 1\.\.8"),
        ({"pooled": {"softplus_beta": 0.0}}, "softplus_beta must be positive"),
        ({"shifter": True}, "readout_kind='gaussian'"),
        ({"readout_kind": "linear"}, "readout_kind"),
    ],
)
def test_impossible_settings_are_refused(
    infos: dict[str, RecordingInfo], override: dict[str, Any], message: str
) -> None:
    settings: dict[str, Any] = {**TINY, **override}
    if "core" in override:
        settings["core"] = {**TINY["core"], **override["core"]}
    with pytest.raises(NeurotwinError, match=message):
        create_model("video-dwise", infos, **settings)
