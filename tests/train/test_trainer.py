import json

import numpy as np
import pytest
import torch

from neurotwin.errors import NeurotwinError
from neurotwin.models import load_model
from neurotwin.scoring.metrics import correlation
from neurotwin.train import TrainConfig, TrainingDiverged, predict, train
from neurotwin.train.checkpoint import load_checkpoint
from train.standin import StandIn, StandInConfig, infos_of, make_standin

FAST = TrainConfig(device="cpu", progress=False, batch_size=4, seed=1)


class Stop(Exception):
    pass


def stop_after(epoch):
    def log(line):
        if line.startswith(f"epoch {epoch:3d}"):
            raise Stop

    return log


def test_trained_stand_in_beats_a_validation_threshold(sim_loaders, out):
    config = TrainConfig(device="cpu", progress=False, batch_size=32, max_epochs=5)
    result = train(make_standin(sim_loaders, pool=(9, 16)), sim_loaders, config, out, log=None)
    untrained = result.history[0]["validation_correlation"]
    assert untrained < 0.05  # an untrained model does not reach the threshold
    assert result.best_correlation > 0.2
    assert result.stop_reason == "max_epochs" and result.best_epoch >= 3

    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in lines] == list(range(6))
    assert lines[0]["train_loss"] is None and lines[1]["train_loss"] > 0
    for key in ("validation_correlation", "lr", "seconds", "best_correlation", "decay_step"):
        assert key in lines[-1]
    assert lines[-1]["best_correlation"] == pytest.approx(result.best_correlation)
    written = json.loads((out / "config.json").read_text())
    expected = {"pool": [9, 16], "channels": 4, "gamma": 0.001, "dropout": 0.1}
    assert written["model"] == {"name": "standin", "config": expected}
    assert written["train"]["lr"] == 0.009
    saved = load_model(out / "model.pt")
    for name, value in result.model.state_dict().items():
        assert torch.equal(saved.state_dict()[name], value)


def test_resume_after_interruption_gives_the_same_weights(tiny_loaders, tmp_path):
    config = FAST.replace(max_epochs=6, patience=1, lr_decay_steps=3)
    whole = train(make_standin(tiny_loaders), tiny_loaders, config, tmp_path / "a", log=None)

    with pytest.raises(Stop):
        train(make_standin(tiny_loaders), tiny_loaders, config, tmp_path / "b", log=stop_after(2))
    assert load_checkpoint(tmp_path / "b/checkpoint.pt")["epoch"] == 2
    # another initialisation: the checkpoint must replace it entirely
    resumed = train(
        make_standin(tiny_loaders, seed=9), tiny_loaders, config, tmp_path / "b", log=None
    )

    for name, value in whole.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], value), name
    strip = lambda h: [{k: v for k, v in e.items() if k != "seconds"} for e in h]  # noqa: E731
    assert strip(resumed.history) == strip(whole.history)
    assert (tmp_path / "b/metrics.jsonl").read_text().count("\n") == len(whole.history)
    assert any(e["restored_best"] for e in whole.history)  # decay steps were exercised

    # a finished run returns at once with the same result
    again = train(make_standin(tiny_loaders), tiny_loaders, config, tmp_path / "b", log=None)
    assert again.best_epoch == whole.best_epoch and len(again.history) == len(whole.history)


def test_resume_refuses_another_recipe(tiny_loaders, out):
    config = FAST.replace(max_epochs=1)
    train(make_standin(tiny_loaders), tiny_loaders, config, out, log=None)
    with pytest.raises(NeurotwinError, match=r"another training recipe \(lr 0.009 -> 0.1\)"):
        train(make_standin(tiny_loaders), tiny_loaders, config.replace(lr=0.1), out, log=None)
    # a larger max_epochs continues the run
    longer = train(
        make_standin(tiny_loaders), tiny_loaders, config.replace(max_epochs=2), out, log=None
    )
    assert [e["epoch"] for e in longer.history] == [0, 1, 2]


class NaNAfter(StandIn):
    def __init__(self, infos, calls):
        super().__init__(infos, StandInConfig())
        self.calls = calls

    def forward(self, batch, key):
        out = super().forward(batch, key)
        if self.training:
            self.calls -= 1
            if self.calls < 0:
                return out * float("nan")
        return out


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tiny_loaders, out):
    # 2 recordings x 3 batches = 6 forward passes per epoch: the 9th is epoch 2, batch 3
    model = NaNAfter(infos_of(tiny_loaders), calls=8)
    with pytest.raises(TrainingDiverged) as info:
        train(model, tiny_loaders, FAST, out, log=None)
    message = str(info.value)
    assert "epoch 2, batch 3 of 6" in message
    assert "last good checkpoint" in message and "after epoch 1" in message
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values())
    assert not (out / "model.pt").exists()


def test_loaders_without_validation_are_refused(tiny_loaders):
    with pytest.raises(NeurotwinError, match="no validation tier"):
        train(make_standin(tiny_loaders), {"train": tiny_loaders["train"]}, FAST, log=None)


def test_predict_orders_by_file_index(tiny_loaders):
    model = make_standin(tiny_loaders)
    key = next(iter(tiny_loaders["train"]))
    loader = tiny_loaders["train"][key]  # shuffled
    index, predictions = predict(model, loader, key)
    assert predictions.dtype == np.float32 and predictions.shape == (12, 7)
    assert (np.diff(index) > 0).all()
    dataset = loader.dataset
    assert sorted(index.tolist()) == sorted(dataset.indices.tolist())
    for row in (0, 5):
        position = int(np.flatnonzero(dataset.indices == index[row])[0])
        single = model.eval()(dataset[[position]], key).detach().numpy()[0]
        np.testing.assert_allclose(predictions[row], single, rtol=1e-5, atol=1e-6)
    assert model.training is False  # predict leaves the mode as it was


def test_predict_on_a_cpu_keeps_freed_memory_unless_told_not_to(tiny_loaders, monkeypatch):
    from neurotwin.train import allocator

    calls = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: calls.append(1) or True)
    model = make_standin(tiny_loaders)
    key = next(iter(tiny_loaders["train"]))
    loader = tiny_loaders["train"][key]
    kept = predict(model, loader, key)
    assert calls == [1]  # what scoring in a fresh process needs (2x on 2 cores, measured)
    plain = predict(model, loader, key, keep_freed_memory=False)
    assert calls == [1]
    np.testing.assert_array_equal(kept[1], plain[1])


def test_validation_score_is_the_mean_over_all_neurons(tiny_loaders):
    from neurotwin.train.evaluate import validation_correlation

    model = make_standin(tiny_loaders)
    sets = {k: v.dataset for k, v in tiny_loaders["validation"].items()}
    score, per_recording = validation_correlation(model, sets, 3, torch.device("cpu"))
    values = []
    for key, loader in tiny_loaders["validation"].items():
        _, pred = predict(model, loader, key)
        responses = np.concatenate([b["responses"].numpy() for b in loader])
        values.append(correlation(responses, pred, axis=0))
        # batches of 3 and of 4 round float32 differently; a correlation near 0 needs an
        # absolute tolerance (a relative one failed at 5e-6 for -0.016)
        assert per_recording[key] == pytest.approx(values[-1].mean(), rel=0, abs=1e-6)
    assert score == pytest.approx(np.hstack(values).mean(), rel=0, abs=1e-6)


def test_a_failing_compiler_falls_back_to_eager_training(tiny_loaders, monkeypatch):
    def broken_compile(net):
        def call(*args, **kwargs):
            raise RuntimeError("BackendCompilerFailed: no C++ compiler")

        return call

    monkeypatch.setattr(torch, "compile", broken_compile)
    lines = []
    config = FAST.replace(compile=True, max_epochs=1)
    result = train(make_standin(tiny_loaders), tiny_loaders, config, log=lines.append)
    assert any("torch.compile failed (BackendCompilerFailed" in line for line in lines)
    assert len(result.history) == 2 and result.history[1]["train_loss"] > 0


def test_resume_refuses_another_model_with_the_same_weight_shapes(tiny_loaders, out):
    config = FAST.replace(max_epochs=1)
    train(make_standin(tiny_loaders), tiny_loaders, config, out, log=None)
    other = make_standin(tiny_loaders, gamma=0.5, dropout=0.3)  # same parameters, other model
    assert all(
        a.shape == b.shape
        for a, b in zip(
            other.state_dict().values(),
            make_standin(tiny_loaders).state_dict().values(),
            strict=True,
        )
    )
    with pytest.raises(
        NeurotwinError, match=r"another model \(dropout 0.1 -> 0.3; gamma 0.001 -> 0.5\)"
    ):
        train(other, tiny_loaders, config.replace(max_epochs=2), out, log=None)
    longer = train(
        make_standin(tiny_loaders), tiny_loaders, config.replace(max_epochs=2), out, log=None
    )
    assert [e["epoch"] for e in longer.history] == [0, 1, 2]
