"""The data -> train seams: loader config, task, optimiser registry, weight average, opens."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from neurotwin.data import LoaderConfig, make_loaders, open_recording
from neurotwin.data import recording as recording_module
from neurotwin.errors import NeurotwinError
from neurotwin.train import StaticTask, Task, TrainConfig, poisson_loss, train
from neurotwin.train.checkpoint import load_checkpoint
from neurotwin.train.distributed import DistEnv
from neurotwin.train.inputs import epoch_batches_of
from neurotwin.train.optim import CosineSchedule, WeightAverage, make_optimizer
from neurotwin.train.tasks import Predictions
from tiny import write_static
from train.standin import make_standin

FAST = TrainConfig(device="cpu", progress=False, batch_size=4, seed=1)


class VideoShapedTask(Task):
    """A video task as it would plug in: the base's loss, trivial gathering and score."""

    kind = "video"

    def predict(self, model, batches, key, device, *, channels_last=False, targets=False):
        raise NotImplementedError

    def score(self, predictions):
        return 0.0, {}


def test_the_task_loss_cuts_burn_in_frames_and_ignores_padding():
    torch.manual_seed(0)
    b, t, n, context = 3, 7, 4, 2
    videos = torch.rand(b, 1, t, 5, 6)
    weight = torch.rand(n, requires_grad=True)

    def model(batch):  # a video-shaped model: (B, T - context, n)
        frames = batch["videos"].mean(dim=(1, 3, 4))[:, context:]
        return torch.nn.functional.elu(frames[..., None] * weight) + 1

    responses = torch.rand(b, t, n)
    mask = torch.ones(b, t, dtype=torch.bool)
    mask[0, 5:] = False  # trial 0 is padded after frame 5
    batch = {"videos": videos, "responses": responses, "mask": mask}
    task = VideoShapedTask(temporal_context=context, scale_loss=False)
    prediction = model(batch)
    loss = task.loss(prediction, batch, n_train=10)
    expected = prediction - responses[:, context:] * torch.log(prediction + 1e-12)
    keep = mask[:, context:, None].float()
    assert torch.allclose(loss, (expected * keep).sum())
    # the padded frames of trial 0 do not move the loss
    responses[0, 5:] = 1e6
    assert torch.allclose(task.loss(model(batch), batch, n_train=10), loss)
    averaged = VideoShapedTask(temporal_context=context, avg_loss=True, scale_loss=False)
    mean = averaged.loss(model(batch), {**batch, "responses": responses}, n_train=10)
    assert torch.allclose(mean, loss / (keep.sum() * n))


def test_the_static_task_loss_is_the_kits():
    prediction = torch.rand(5, 3) + 0.1
    batch = {"responses": torch.rand(5, 3)}
    expected = poisson_loss(prediction, batch["responses"]) * math.sqrt(20 / 5)
    assert torch.equal(StaticTask().loss(prediction, batch, n_train=20), expected)


def test_the_static_task_scores_stacked_predictions():
    rng = np.random.default_rng(0)
    values = rng.random((6, 2)).astype(np.float32)
    same = Predictions(np.arange(6), values, values)
    score, per = StaticTask().score({"a": same})
    assert score == pytest.approx(1.0) and per == {"a": pytest.approx(1.0)}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"optimizer": "sgd"}, "unknown optimizer 'sgd'; known: adam, adamw"),
        ({"schedule": "step"}, "unknown schedule 'step'; known: plateau, cosine"),
        ({"warmup_epochs": 2}, "warmup_epochs \\(2\\) needs schedule 'cosine'"),
        ({"ema_decay": 1.0}, "ema_decay must lie in \\(0, 1\\)"),
        ({"weight_decay": -1.0}, "weight_decay must be a number >= 0"),
        # NaN passes `value <= 0`; torch's optimiser then crashed with an internal error
        ({"lr": float("nan")}, "'lr' must be a positive finite number, got nan"),
        ({"lr": float("inf")}, "'lr' must be a positive finite number, got inf"),
        ({"min_lr": float("nan")}, "'min_lr' must be a positive finite number"),
        ({"tolerance": float("nan")}, "tolerance must be >= 0, got nan"),
    ],
)
def test_unknown_or_bad_optimisation_settings_are_refused(change, message):
    with pytest.raises(NeurotwinError, match=message):
        TrainConfig(**change)


def test_the_default_optimiser_is_adam_with_the_kits_rate():
    optimizer = make_optimizer([torch.nn.Parameter(torch.zeros(2))], TrainConfig())
    assert type(optimizer) is torch.optim.Adam
    assert optimizer.param_groups[0]["lr"] == 0.009
    assert optimizer.param_groups[0]["weight_decay"] == 0.0


def test_cosine_schedule_warms_up_then_decays_to_min_lr():
    config = TrainConfig(
        optimizer="adamw", schedule="cosine", warmup_epochs=1, max_epochs=3, lr=1.0, min_lr=0.1
    )
    optimizer = make_optimizer([torch.nn.Parameter(torch.zeros(2))], config)
    schedule = CosineSchedule(optimizer, config, steps_per_epoch=2)
    rates = [optimizer.param_groups[0]["lr"]]
    for _ in range(6):
        optimizer.step()
        schedule.after_step()
        rates.append(optimizer.param_groups[0]["lr"])
    assert rates[0] == pytest.approx(0.01) and rates[2] == pytest.approx(1.0)  # warm-up
    assert rates[2] > rates[3] > rates[4] > rates[5] and rates[6] == pytest.approx(0.1)


def test_weight_average_follows_the_weights_and_is_swapped_in_for_evaluation():
    layer = torch.nn.Linear(2, 1)
    average = WeightAverage(layer, decay=0.5)
    start = layer.weight.detach().clone()
    with torch.no_grad():
        layer.weight.add_(2.0)
    average.update()  # the warm-up's decay at step 0: 1 / 10
    assert torch.allclose(average.average["weight"], start + 1.8)
    with average.applied():
        assert torch.allclose(layer.weight, start + 1.8)
    assert torch.allclose(layer.weight, start + 2.0)


def test_weight_average_warms_up_to_its_decay_and_forgets_the_start():
    layer = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        layer.weight.fill_(0.0)
    average = WeightAverage(layer, decay=0.99)
    decays = []
    for _ in range(1000):
        decays.append(average.current_decay())
        with torch.no_grad():
            layer.weight.fill_(1.0)
        average.update()
    assert decays[0] == pytest.approx(0.1) and decays[10] == pytest.approx(11 / 20)
    assert all(a <= b for a, b in itertools.pairwise(decays))
    assert decays[889] < 0.99 and decays[890] == 0.99  # (10 d - 1) / (1 - d) = 890 steps
    # the start weighs the product of the decays: 2.3e-13 after 100 steps, not 0.99 ** 100
    without_warm_up = 0.99**100
    assert without_warm_up > 0.36
    assert float(torch.prod(torch.tensor(decays[:100], dtype=torch.float64))) < 1e-12
    assert average.average["weight"].item() == pytest.approx(1.0)
    average.reset()
    assert average.updates == 0 and average.current_decay() == pytest.approx(0.1)


def test_adamw_cosine_and_average_train_save_and_resume_exactly(tiny_loaders, tmp_path):
    config = FAST.replace(
        max_epochs=3, optimizer="adamw", weight_decay=0.01, schedule="cosine",
        warmup_epochs=1, ema_decay=0.9,
    )  # fmt: skip
    whole = train(make_standin(tiny_loaders), tiny_loaders, config, tmp_path / "a", log=None)
    written = json.loads((tmp_path / "a/config.json").read_text())["train"]
    assert (written["optimizer"], written["schedule"], written["ema_decay"]) == (
        "adamw", "cosine", 0.9,
    )  # fmt: skip
    state = load_checkpoint(tmp_path / "a/checkpoint.pt")
    assert set(state["ema"]) == set(state["model"])
    best = state["best_state"]  # the average's weights of the best epoch are the ones kept
    for name, value in whole.model.state_dict().items():
        assert torch.equal(best[name], value), name

    train(make_standin(tiny_loaders), tiny_loaders, config.replace(max_epochs=1), tmp_path / "b")
    resumed = train(make_standin(tiny_loaders, seed=5), tiny_loaders, config, tmp_path / "b")
    for name, value in whole.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], value), name


def test_epoch_lines_give_the_rate_at_the_start_and_end_of_an_epoch(tiny_loaders):
    # a per-step schedule moves the rate within an epoch: the line gives its value at the
    # start and after the last step (it used to give only the start: 1% of the peak after
    # a warm-up epoch)
    lines: list[str] = []
    cosine = FAST.replace(
        max_epochs=2, optimizer="adamw", schedule="cosine", warmup_epochs=1, lr=0.5, min_lr=0.05
    )
    train(make_standin(tiny_loaders), tiny_loaders, cosine, log=lines.append)
    epochs = [line for line in lines if line.startswith(("epoch   1", "epoch   2"))]
    assert len(epochs) == 2
    assert "lr 0.005 -> 0.5 " in epochs[0] and "lr 0.5 -> 0.05 " in epochs[1]
    lines.clear()
    train(make_standin(tiny_loaders), tiny_loaders, FAST.replace(max_epochs=1), log=lines.append)
    assert any(line.startswith("epoch   1") and "lr 0.009 " in line for line in lines)


def test_make_loaders_takes_open_recordings_and_the_models_fields(tmp_path):
    recording = open_recording(write_static(tmp_path / "rec"))
    config = LoaderConfig(batch_size=5, fields=("images", "behavior"), tiers=("train",))
    loaders = make_loaders(recording, config, cache_dir=tmp_path / "cache", progress=False)
    batch = next(iter(loaders["train"]["11-2-3"]))
    assert sorted(batch) == ["behavior", "images", "index", "responses"]
    assert len(batch["index"]) == 5
    with pytest.raises(ValueError, match="fields must start with the stimulus field"):
        LoaderConfig(fields=("behavior",))
    with pytest.raises(ValueError, match=r"unknown batch field\(s\) \['eyes'\]"):
        LoaderConfig(fields=("images", "eyes"))


def test_the_trainer_honours_the_loaders_batch_size_and_shuffling(tiny_paths):
    config = LoaderConfig(batch_size=5, tiers=("train", "validation"), shuffle=False)
    loaders = make_loaders(tiny_paths["paths"], config, cache_dir=tiny_paths["cache_dir"])
    batches = epoch_batches_of(loaders["train"], epoch=3, seed=1, env=DistEnv())
    for positions in batches.values():
        assert [p.tolist() for p in positions] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]
    with pytest.raises(NeurotwinError, match="has batches of 5 but the recipe's batch_size is 4"):
        train(make_standin(loaders), loaders, FAST, log=None)
    plain = {
        tier: {key: DataLoader(loader.dataset) for key, loader in tier_loaders.items()}
        for tier, tier_loaders in loaders.items()
    }
    with pytest.raises(NeurotwinError, match=r"built by neurotwin\.data\.make_loaders"):
        train(make_standin(loaders), plain, FAST.replace(batch_size=5), log=None)


def test_fit_opens_each_recording_once(tmp_path, monkeypatch):
    import train.standin  # noqa: F401  (registers the stand-in)
    from neurotwin.train import fit

    path = write_static(tmp_path / "rec", hw=(16, 24))
    opened = []
    real = recording_module.recording_for
    monkeypatch.setattr(recording_module, "recording_for", lambda s: opened.append(s) or real(s))
    fit(path, "standin", None, FAST.replace(max_epochs=1), cache_dir=tmp_path / "c", log=None)
    assert len(opened) == 1


def test_cli_train_sets_the_optimiser_schedule_and_average(tmp_path, capsys):
    from neurotwin.cli import main

    path = write_static(tmp_path / "rec", hw=(16, 24))
    out = tmp_path / "run"
    args = ["train", str(path), "--out", str(out), "--model", "standin", "--epochs", "1"]
    flags = ["--optimizer", "adamw", "--weight-decay", "0.02", "--schedule", "cosine"]
    flags += ["--warmup-epochs", "1", "--ema-decay", "0.5", "--no-progress", "--device", "cpu"]
    assert main([*args, "--batch-size", "4", "--cache-dir", str(tmp_path / "c"), *flags]) == 0
    written = json.loads((out / "config.json").read_text())["train"]
    assert written["optimizer"] == "adamw" and written["weight_decay"] == 0.02
    assert written["schedule"] == "cosine" and written["warmup_epochs"] == 1
    assert written["ema_decay"] == 0.5
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--optimizer", "sgd"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'sgd'" in capsys.readouterr().err
