"""Video training beyond one model: the kit's recipe as default, ensembles, video-3d, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from neurotwin.data import open_recording
from neurotwin.data.loaders import LoaderConfig, make_loaders
from neurotwin.data.recording import VideoRecording
from neurotwin.errors import NeurotwinError
from neurotwin.models import Ensemble, create_model, load_model, recording_infos, save_model
from neurotwin.submit import predict_tiers
from neurotwin.train import TrainConfig, fit
from neurotwin.train import evaluate as evaluation
from neurotwin.train.distributed import DistEnv
from neurotwin.train.evaluate import gathered_predictions
from neurotwin.train.tasks import StaticTask, VideoTask
from tiny import write_video

HW = (12, 20)  # the frames of the video_mice fixture
#: A tiny video-3d: one layer, 3 x 3 kernels in space and time (temporal context 2).
TINY_3D: dict[str, Any] = {
    "core": {"hidden_channels": [3], "spatial_input_kern": 3, "temporal_input_kern": 3}
}
TINY_GRU: dict[str, Any] = {
    "core": {
        "hidden_channels": 3,
        "layers": 1,
        "input_kern": 3,
        "gru_channels": 3,
        "gru_input_kern": 3,
        "gru_recurrent_kern": 3,
    }
}
QUICK = TrainConfig(max_epochs=1, progress=False, device="cpu", num_threads=1)


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    """One torch thread: on a shared machine, more make these small convolutions crawl."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_video_models_default_to_the_2023_kits_recipe() -> None:
    video = TrainConfig().for_kind("video")
    assert (video.optimizer, video.lr, video.batch_size, video.weight_decay) == (
        "adamw", 0.005, 8, 0.01
    )  # fmt: skip
    plateau = ("lr_decay_factor", "patience", "tolerance", "min_lr", "lr_decay_steps")
    assert [getattr(video, f) for f in plateau] == [0.3, 5, 1e-6, 1e-4, 4]
    assert (video.window, video.schedule, video.recipe) == (80, "plateau", "given")
    assert video.for_kind("video") == video  # resolved once
    assert TrainConfig().for_kind("static") == TrainConfig(recipe="given")
    assert TrainConfig(lr=0.02, batch_size=4).for_kind("video").lr == 0.02
    assert TrainConfig(weight_decay=0.05).for_kind("video").weight_decay == 0.05
    assert TrainConfig(recipe="given").for_kind("video") == TrainConfig(recipe="given")
    with pytest.raises(NeurotwinError, match="unknown recipe 'kit'"):
        TrainConfig(recipe="kit")  # type: ignore[arg-type]


def test_cli_trains_a_video_3d_ensemble_with_the_kits_recipe(
    video_mice: list[Path], video_cache: Path, tmp_path: Path, capsys: Any
) -> None:
    from neurotwin.cli import main

    out = tmp_path / "ensemble"
    args = ["train", str(video_mice[0]), "--model", "video-3d", "--out", str(out)]
    args += ["--ensemble", "2", "--epochs", "1", "--frames", "20", "--lr", "0.009"]
    args += ["--no-progress", "--device", "cpu", "--cache-dir", str(video_cache)]
    args += ["--set", "core=" + json.dumps(TINY_3D["core"])]
    assert main(args) == 0
    assert "2 members" in capsys.readouterr().out
    saved = json.loads((out / "member-1" / "config.json").read_text())["train"]
    # the flag given is kept even at the 2022 default; the others are the 2023 kit's
    assert (saved["lr"], saved["optimizer"], saved["batch_size"]) == (0.009, "adamw", 8)
    assert (saved["window"], saved["seed"]) == (20, 43)

    model = load_model(out / "model.pt")
    assert isinstance(model, Ensemble) and len(model) == 2
    assert model.stimulus_kind == "video" and model.temporal_context == 2
    tier = "live_test_main"
    together = predict_tiers(model, video_mice[0], [tier], cache_dir=video_cache)[tier]
    alone = [
        predict_tiers(model.member(i), video_mice[0], [tier], cache_dir=video_cache)[tier]
        for i in range(2)
    ]
    for k, row in enumerate(together.values):
        np.testing.assert_allclose(row, (alone[0].values[k] + alone[1].values[k]) / 2, rtol=1e-5)


def test_ensemble_aligns_members_of_different_temporal_contexts(
    video_mice: list[Path], tmp_path: Path
) -> None:
    infos = recording_infos(str(video_mice[0]), HW)
    torch.manual_seed(0)
    gru, cube = (
        create_model("video-gru", infos, **TINY_GRU),
        create_model("video-3d", infos, **TINY_3D),
    )
    ensemble = Ensemble([gru, cube]).eval()
    assert (gru.temporal_context, cube.temporal_context, ensemble.temporal_context) == (0, 2, 2)
    key = ensemble.keys[0]
    g = torch.Generator().manual_seed(1)
    batch = {
        "videos": torch.randn(2, 1, 9, *HW, generator=g),
        "behavior": torch.randn(2, 2, 9, generator=g),
        "pupil_center": torch.randn(2, 2, 9, generator=g),
    }
    with torch.no_grad():
        together = ensemble(batch, key)
        expected = (gru.eval()(batch, key)[:, 2:] + cube.eval()(batch, key)) / 2
        whole = VideoTask().predict(ensemble, [{**batch, "index": torch.arange(2),
                                                "length": torch.tensor([9, 9])}], key,
                                    torch.device("cpu"))  # fmt: skip
    assert together.shape == (2, 7, 12)
    torch.testing.assert_close(together, expected)
    assert whole.values.shape == (2, 12, 250) and np.isnan(whole.values).all()  # 9 < 50 frames
    save_model(ensemble, tmp_path / "model.pt")
    with torch.no_grad():
        torch.testing.assert_close(load_model(tmp_path / "model.pt")(batch, key), together)


def _damaged_copy(path: Path, dest: Path, tier: str) -> tuple[Path, int]:
    """Copy a recording and make the first trial of ``tier`` all padding (NaN video)."""
    copy = dest / path.name
    shutil.copytree(path, copy)
    index = int(open_recording(copy).tier_indices(tier)[0])
    video = np.load(copy / "data" / "videos" / f"{index}.npy")
    np.save(copy / "data" / "videos" / f"{index}.npy", np.full_like(video, np.nan))
    return copy, index


def test_windows_and_padding_are_checked_in_training_and_prediction(
    video_mice: list[Path], video_cache: Path, tmp_path: Path
) -> None:
    recording = open_recording(video_mice[0])
    assert isinstance(recording, VideoRecording)
    lengths = recording.lengths[recording.tier_indices("train")]
    assert lengths.min() < lengths.max()  # the window below fits some trials, not all
    common: dict[str, Any] = {"cache_dir": tmp_path / "c", "log": None, **TINY_GRU}
    with pytest.raises(NeurotwinError, match=rf"has {lengths.min()} frames, fewer than the train"):
        fit(video_mice[0], "video-gru", None, QUICK, frames=int(lengths.max()), **common)

    padded, index = _damaged_copy(video_mice[0], tmp_path / "train", "train")
    with pytest.raises(NeurotwinError, match=rf"videos/{index}.npy \(tier 'train'\): the trial is"):
        fit(padded, "video-gru", None, QUICK, frames=20, **common)

    padded, index = _damaged_copy(video_mice[0], tmp_path / "test", "live_test_main")
    model = create_model("video-gru", recording_infos(str(padded), HW), **TINY_GRU)
    with pytest.raises(NeurotwinError, match=rf"videos/{index}.npy \(tier 'live_test_main'\): t"):
        predict_tiers(model, padded, ["live_test_main"], cache_dir=tmp_path / "c")


def test_a_mouse_with_other_neurons_is_named_at_resume_and_at_prediction(
    tmp_path: Path,
) -> None:
    trained_on = write_video(tmp_path / "a")
    other = write_video(tmp_path / "b", n_neurons=4)  # the same key, one neuron fewer
    common: dict[str, Any] = {"cache_dir": tmp_path / "c", "log": None, "frames": 6, **TINY_GRU}
    result = fit(trained_on, "video-gru", tmp_path / "run", QUICK.replace(batch_size=2), **common)
    with pytest.raises(NeurotwinError, match=r"was built for 5 neurons, but .* has 4 neurons"):
        fit(other, "video-gru", tmp_path / "run", QUICK.replace(batch_size=2), **common)
    with pytest.raises(NeurotwinError, match=r"has 4 neurons, the readout of key '11-2-3' exp"):
        predict_tiers(result.model, other, ["oracle"])


@pytest.mark.parametrize("kind", ["static", "video"])
def test_a_process_without_a_validation_batch_gathers_the_right_shape(
    kind: str, video_mice: list[Path], video_cache: Path, tiny_paths: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Rank 1 of 2 gets no batch of a one-batch tier; its empty share must gather with rank 0's."""
    if kind == "video":
        path, cache, tier, hw = str(video_mice[0]), video_cache, "oracle", HW
        model = create_model("video-gru", recording_infos(path, hw), **TINY_GRU)
    else:
        path, cache, tier, hw = (
            tiny_paths["paths"][0],
            tiny_paths["cache_dir"],
            "validation",
            (4, 6),
        )
        tiny = {"hidden_channels": 2, "input_kern": 3, "hidden_kern": 3}
        model = create_model("sensorium", recording_infos(path, hw), **tiny)
    loader = make_loaders(
        path,
        LoaderConfig(batch_size=64, fields=model.required_fields, tiers=(tier,), size=hw),
        cache_dir=cache,
        progress=False,
    )[tier][model.keys[0]]
    task = VideoTask() if kind == "video" else StaticTask()
    batches = [np.arange(len(loader.dataset))]  # type: ignore[arg-type]
    cpu, key = torch.device("cpu"), model.keys[0]
    single = gathered_predictions(task, model, loader.dataset, batches, key, cpu)
    from_rank0 = iter([single.index, single.values, single.targets])

    def all_gather(array: np.ndarray, device: torch.device) -> list[np.ndarray]:
        theirs = next(from_rank0)
        assert theirs is not None
        # what torch.distributed needs: one dtype and trailing shape on every process
        assert array.shape == (0, *theirs.shape[1:]) and array.dtype == theirs.dtype
        return [theirs, array]

    monkeypatch.setattr(evaluation, "all_gather_arrays", all_gather)
    second = gathered_predictions(task, model, loader.dataset, batches, key, cpu, DistEnv(2, 1))
    np.testing.assert_array_equal(second.index, single.index)
    np.testing.assert_array_equal(second.values, single.values)
    assert second.targets is not None and single.targets is not None
    np.testing.assert_array_equal(second.targets, single.targets)
