"""Video twins train end to end through the trainer: the video task, fit's checks, save/load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from neurotwin.data import open_recording
from neurotwin.data.recording import VideoRecording
from neurotwin.errors import NeurotwinError
from neurotwin.models import load_model
from neurotwin.models.video_inference import predict_trials
from neurotwin.models.video_twin import VideoTwin
from neurotwin.scoring.metrics import stack_scored_frames, video_correlation
from neurotwin.simulate import simulate_video
from neurotwin.train import TrainConfig, fit
from neurotwin.train.tasks import TASKS, VideoTask, _scored
from tiny import write_static

#: A small video-gru (the kit's settings scaled down) that trains in seconds.
TINY_GRU: dict[str, Any] = {
    "core": {
        "hidden_channels": 6,
        "layers": 2,
        "input_kern": 7,
        "hidden_kern": 3,
        "gru_channels": 6,
        "gru_input_kern": 3,
        "gru_recurrent_kern": 3,
    }
}
RECIPE = TrainConfig(
    batch_size=4, lr=0.01, max_epochs=5, patience=10, progress=False, device="cpu", seed=0,
    num_threads=1,
)  # fmt: skip
#: The tiny preset, smaller still: 20 neurons, 18 x 32 frames, trials of 60-64 frames.
SMALL: dict[str, Any] = {
    "neurons": 20,
    "height": 18,
    "width": 32,
    "min_frames": 60,
    "max_frames": 64,
}


@pytest.fixture(scope="module")
def video_mouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The simulator's tiny video mouse (12 train, 6 oracle trials), made smaller."""
    (rec,) = simulate_video(tmp_path_factory.mktemp("video"), preset="tiny", seed=2, **SMALL)
    return Path(rec.path)


@pytest.fixture(scope="module")
def trained(video_mouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("run") / "run"
    cache = tmp_path_factory.mktemp("cache")
    torch.manual_seed(0)
    result = fit(
        video_mouse, "video-gru", out, RECIPE, cache_dir=cache, frames=30, log=None, **TINY_GRU
    )
    return result, out


def test_video_task_is_registered() -> None:
    assert TASKS["video"] is VideoTask


def test_video_gru_trains_above_zero(trained: Any) -> None:
    result, out = trained
    assert result.model.stimulus_kind == "video"
    assert result.history[0]["epoch"] == 0 and len(result.history) == 1 + RECIPE.max_epochs
    assert result.best_epoch > 0
    assert result.best_correlation > 0.15, result.history
    assert result.best_correlation > result.history[0]["validation_correlation"] + 0.03
    assert (out / "model.pt").exists()


def test_validation_score_is_the_scorers(trained: Any, video_mouse: Path) -> None:
    """The score early stopping saw equals the scorer's metric on the raw oracle responses."""
    result, out = trained
    model = load_model(out / "model.pt")
    recording = open_recording(video_mouse)
    assert isinstance(model, VideoTwin) and isinstance(recording, VideoRecording)
    oracle = recording.tier_indices("oracle")
    fields = {
        name: [recording.load(name, int(i)) for i in oracle] for name in model.required_fields
    }
    responses = np.stack([recording.load("responses", int(i)) for i in oracle])  # (N, n, T) NaN
    from neurotwin.data.normalize import Normalizer

    normalizer = Normalizer.from_recording(recording, tuple(model.required_fields))
    videos = [normalizer("videos", v.transpose(2, 0, 1)[None])[0] for v in fields["videos"]]
    series: dict[str, Any] = {
        name: [normalizer(name, s.T[None])[0].T for s in fields[name]]
        for name in model.required_fields[1:]
    }
    preds = predict_trials(model, recording.key, videos, chunk_frames=16, **series)
    lengths = recording.lengths[oracle]
    padded = np.full(responses.shape, np.nan)
    for k, (p, length) in enumerate(zip(preds, lengths, strict=True)):
        padded[k, :, :length] = p[:length].T
    scored_p, scored_r = stack_scored_frames(padded), stack_scored_frames(responses)
    expected = video_correlation(scored_p.T[None], scored_r.T[None], np.array([len(scored_p)]))
    best = result.history[result.best_epoch]["validation_correlation"]
    assert best == pytest.approx(float(expected.mean()), abs=2e-4)


def test_save_load_round_trip_and_unequal_lengths(trained: Any) -> None:
    result, out = trained
    model = load_model(out / "model.pt")
    assert isinstance(model, VideoTwin)
    g = torch.Generator().manual_seed(0)
    videos = [torch.randn(t, 18, 32, generator=g).numpy() for t in (60, 75)]
    series: dict[str, Any] = {
        name: [torch.randn(2, t, generator=g).numpy() for t in (60, 75)]
        for name in ("behavior", "pupil_center")
    }
    loaded = predict_trials(model, model.keys[0], videos, **series)
    assert isinstance(result.model, VideoTwin)
    original = predict_trials(result.model, model.keys[0], videos, **series)
    assert [p.shape for p in loaded] == [(60, 20), (75, 20)]
    for a, b in zip(loaded, original, strict=True):
        assert np.isfinite(a).all() and (a > 0).all()
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_loss_masks_padding_and_burn_in() -> None:
    task = VideoTask(temporal_context=2, scale_loss=False)
    prediction = torch.full((2, 4, 3), 2.0)  # (B, T - 2, n)
    responses = torch.ones(2, 6, 3)
    length = torch.tensor([6, 4])
    loss = task.loss(prediction, {"responses": responses, "length": length}, n_train=8)
    per_frame = 3 * (2.0 - np.log(2.0))
    assert float(loss) == pytest.approx(per_frame * (4 + 2), rel=1e-5)


def test_scored_frames_follow_the_scorer() -> None:
    frames = np.arange(2 * 320 * 1, dtype=np.float32).reshape(2, 320, 1)
    out = _scored(frames, np.array([320, 70]))
    assert out.shape == (2, 1, 250)
    np.testing.assert_array_equal(out[0, 0], frames[0, 50:300, 0])
    np.testing.assert_array_equal(out[1, 0, :20], frames[1, 50:70, 0])
    assert np.isnan(out[1, 0, 20:]).all()


def test_kind_and_window_errors(video_mouse: Path, tmp_path: Path) -> None:
    static = write_static(tmp_path / "static")
    with pytest.raises(NeurotwinError, match=r"is a video recording but model 'sensorium'"):
        fit(video_mouse, "sensorium", None, RECIPE, cache_dir=tmp_path / "c", log=None)
    with pytest.raises(NeurotwinError, match=r"is a static recording but model 'video-gru'"):
        fit(static, "video-gru", None, RECIPE, cache_dir=tmp_path / "c", log=None, **TINY_GRU)
    with pytest.raises(NeurotwinError, match=r"no training trial is 500 frames long"):
        fit(
            video_mouse, "video-gru", None, RECIPE, cache_dir=tmp_path / "c", frames=500,
            log=None, **TINY_GRU,
        )  # fmt: skip


def test_cli_trains_a_video_model(video_mouse: Path, tmp_path: Path, capsys: Any) -> None:
    import json

    from neurotwin.cli import main

    out = tmp_path / "run"
    args = ["train", str(video_mouse), "--model", "video-gru", "--out", str(out)]
    args += ["--epochs", "1", "--batch-size", "4", "--frames", "20", "--no-progress"]
    args += [
        "--cache-dir",
        str(tmp_path / "cache"),
        "--set",
        "core=" + json.dumps(TINY_GRU["core"]),
    ]
    assert main(args) == 0
    assert "best validation correlation" in capsys.readouterr().out
    assert load_model(out / "model.pt").stimulus_kind == "video"
    assert main([*args[:2], "--model", "sensorium", "--out", str(tmp_path / "r2")]) == 2
    assert "is a video recording but model 'sensorium' is a static model" in capsys.readouterr().err


def test_train_called_directly_takes_the_video_recipe(video_mouse: Path, tmp_path: Path) -> None:
    """``train`` resolves ``recipe="auto"`` for a video model as ``fit`` does."""
    import json

    from neurotwin.data import LoaderConfig, make_loaders
    from neurotwin.models import create_model, recording_infos
    from neurotwin.train import train

    recording = open_recording(video_mouse)
    infos = recording_infos([recording])  # video frames at their size, as the loaders give them
    assert infos[recording.key].image_hw == tuple(recording.stimulus_hw)
    torch.manual_seed(0)
    model = create_model("video-gru", infos, **TINY_GRU)
    fields = LoaderConfig(batch_size=8, fields=model.required_fields, frames=30)
    loaders = make_loaders(video_mouse, fields, cache_dir=tmp_path / "cache", progress=False)
    loaders["validation"] = loaders["oracle"]
    config = TrainConfig(max_epochs=1, window=30, device="cpu", progress=False, num_threads=1)
    train(model, loaders, config, tmp_path / "run", log=None)
    written = json.loads((tmp_path / "run/config.json").read_text())["train"]
    assert (written["optimizer"], written["lr"], written["batch_size"]) == ("adamw", 0.005, 8)
    assert written["weight_decay"] == 0.01 and written["recipe"] == "given"
