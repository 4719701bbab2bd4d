"""The trainer's wall-clock budget and the ``compile="auto"`` rule (issue 25).

A fake clock makes timing exact: every training batch advances it by one second, nothing
else does, so an epoch of the tiny loaders (two recordings, 3 batches each) takes 6 s.
"""

from __future__ import annotations

import json

import pytest
import torch

from neurotwin.errors import NeurotwinError
from neurotwin.train import TrainConfig, train
from neurotwin.train import trainer as trainer_module
from neurotwin.train.checkpoint import load_checkpoint
from neurotwin.train.trainer import compile_pays
from train.conftest import tiny_loaders_for
from train.standin import make_standin

FAST = TrainConfig(device="cpu", progress=False, batch_size=4, seed=1, patience=50)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def perf_counter(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(trainer_module, "time", fake)
    objective = trainer_module._Run._objective

    def timed(self, batch, key):
        fake.now += 1.0
        return objective(self, batch, key)

    monkeypatch.setattr(trainer_module._Run, "_objective", timed)
    return fake


def test_training_stops_after_the_last_epoch_that_fits(tiny_loaders, tmp_path, clock):
    config = FAST.replace(max_epochs=50, time_limit=20.0)
    lines: list[str] = []
    result = train(make_standin(tiny_loaders), tiny_loaders, config, tmp_path, log=lines.append)
    # epochs end at 6, 12 and 18 s; a fourth would end at 24 s > 20 s
    assert result.stop_reason == "time_limit"
    assert len(result.history) == 4
    assert any("would not end within the time limit (20 s)" in line for line in lines)
    metrics = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [m["stop_reason"] for m in metrics] == [None, None, None, "time_limit"]
    assert [m["seconds"] for m in metrics[1:]] == [6.0, 6.0, 6.0]
    best = result.history[result.best_epoch]["validation_correlation"]
    assert result.best_correlation == best  # the best weights are the ones kept

    # resumed with the same limit the run is finished; with another it trains on
    again = train(make_standin(tiny_loaders), tiny_loaders, config, tmp_path, log=None)
    assert len(again.history) == 4 and again.stop_reason == "time_limit"
    longer = config.replace(time_limit=13.0)
    more = train(make_standin(tiny_loaders), tiny_loaders, longer, tmp_path, log=None)
    assert len(more.history) == 6 and more.stop_reason == "time_limit"


def test_an_epoch_that_would_end_late_is_abandoned(tiny_loaders, tmp_path, clock):
    model = make_standin(tiny_loaders)
    untrained = {k: v.clone() for k, v in model.state_dict().items()}
    lines: list[str] = []
    config = FAST.replace(max_epochs=50, time_limit=4.0)
    result = train(model, tiny_loaders, config, tmp_path, log=lines.append)
    # the first batch warms up; after two more (3 s) the epoch's end is projected at 6 s > 4 s
    assert clock.now == 1003.0
    assert result.stop_reason == "time_limit" and len(result.history) == 1
    assert any(
        "epoch   1  abandoned: after 3 of 6 batches it would end at 6 s" in line for line in lines
    )
    for name, value in result.model.state_dict().items():
        assert torch.equal(value, untrained[name]), name  # the partial epoch left no trace
    metrics = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [m["stop_reason"] for m in metrics] == ["time_limit"]
    assert metrics[0]["abandoned_epoch_seconds"] == 6.0  # what a longer budget would need
    assert load_checkpoint(tmp_path / "checkpoint.pt")["stopping"]["stop_reason"] == "time_limit"


def test_no_time_limit_keeps_the_epoch_count(tiny_loaders, clock):
    result = train(make_standin(tiny_loaders), tiny_loaders, FAST.replace(max_epochs=3), log=None)
    assert len(result.history) == 4 and result.stop_reason == "max_epochs"


@pytest.mark.parametrize("value", [0, -5, "10m", True])
def test_bad_time_limits_are_refused(value):
    with pytest.raises(NeurotwinError, match="time_limit must be a positive number"):
        TrainConfig(time_limit=value)


def test_compile_pays_only_when_it_leaves_time_for_more_epochs():
    # 2 cores, the demo mouse: 36 s an eager epoch, 450 s left -> 12 eager, 15 compiled
    assert compile_pays(36.0, 450.0)
    # a machine 3x slower: 108 s an epoch, 300 s left -> 2 eager, 1 compiled
    assert not compile_pays(108.0, 300.0)
    # the tiny mouse: compiling (a minute or more) never pays for sub-second epochs
    assert not compile_pays(0.5, 10.0)


def test_auto_compile_is_skipped_when_it_does_not_pay(tiny_loaders, clock, monkeypatch):
    calls: list[object] = []
    monkeypatch.setattr(torch, "compile", lambda net: calls.append(net) or net)
    lines: list[str] = []
    config = FAST.replace(max_epochs=3, compile="auto", time_limit=100.0)
    train(make_standin(tiny_loaders), tiny_loaders, config, log=lines.append)
    assert not calls
    assert any(line.startswith("not compiling: at 6.0 s an epoch") for line in lines), lines


def test_compiling_is_announced_timed_and_left_out_of_the_forecast(
    tiny_loaders, clock, monkeypatch
):
    def slow_compile(net):
        def call(*args, **kwargs):
            if not calls:
                clock.now += 30.0  # compiling, before the first batch
            calls.append(1)
            return net(*args, **kwargs)

        return call

    calls: list[int] = []
    monkeypatch.setattr(torch, "compile", slow_compile)
    lines: list[str] = []
    config = FAST.replace(max_epochs=50, compile=True, time_limit=50.0)
    result = train(make_standin(tiny_loaders), tiny_loaders, config, log=lines.append)
    first = next(i for i, line in enumerate(lines) if line.startswith("epoch   1"))
    assert any("compiling the model with torch.compile" in line for line in lines[:first])
    assert "compiled in 31 s (the first batch included)" in lines[:first]
    assert result.history[1]["compile_seconds"] == 31.0
    assert result.history[2]["compile_seconds"] is None
    # epochs end at 36, 42 and 48 s: the forecast after epoch 1 is 5 s, not 36 s
    assert len(result.history) == 4 and result.stop_reason == "time_limit"


def test_a_reserve_in_validation_passes_is_kept_free(tiny_loaders, clock, monkeypatch):
    validate = trainer_module._Run._validate

    def two_second_validation(self):
        clock.now += 2.0
        return validate(self)

    monkeypatch.setattr(trainer_module._Run, "_validate", two_second_validation)
    # epoch 0 ends at 2 s, each epoch takes 6 + 2 s; 3 validations (6 s) stay free of 30 s
    config = FAST.replace(max_epochs=50, time_limit=30.0, reserve_validations=3.0)
    result = train(make_standin(tiny_loaders), tiny_loaders, config, log=None)
    assert len(result.history) == 3 and clock.now == 1018.0  # a third epoch would end at 26 s
    without = train(make_standin(tiny_loaders), tiny_loaders, config.replace(reserve_validations=0))
    assert len(without.history) == 4


def test_a_first_epoch_of_few_batches_is_abandoned_too(tiny_paths, tmp_path, clock):
    # batches of 16: one of each recording's 12 training trials, an epoch of 2 batches,
    # too few to time two batches after the first (the demo's tiny mouse has 2 as well)
    loaders = tiny_loaders_for(tiny_paths, batch_size=16)
    model = make_standin(loaders)
    untrained = {k: v.clone() for k, v in model.state_dict().items()}
    lines: list[str] = []
    config = FAST.replace(batch_size=16, max_epochs=50, time_limit=1.5)
    result = train(model, loaders, config, tmp_path, log=lines.append)
    # the first batch took 1 s; the epoch's 2 batches are projected to end at 2 s > 1.5 s
    assert clock.now == 1001.0
    assert result.stop_reason == "time_limit" and len(result.history) == 1
    assert any("epoch   1  abandoned: after 1 of 2 batches" in line for line in lines), lines
    assert any("WARNING: no epoch fits" in line and "UNTRAINED" in line for line in lines)
    for name, value in result.model.state_dict().items():
        assert torch.equal(value, untrained[name]), name
    metrics = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert metrics[0]["abandoned_epoch_seconds"] == 2.0
    assert metrics[0]["abandoned_after_batches"] == 1
    assert metrics[0]["abandoned_epoch_start"] == 0.0  # seconds into the call


def test_an_epoch_that_cannot_hold_its_validation_is_not_started(tiny_loaders, clock, monkeypatch):
    validate = trainer_module._Run._validate

    def three_second_validation(self):
        clock.now += 3.0
        return validate(self)

    monkeypatch.setattr(trainer_module._Run, "_validate", three_second_validation)
    lines: list[str] = []
    config = FAST.replace(max_epochs=50, time_limit=5.0)
    result = train(make_standin(tiny_loaders), tiny_loaders, config, log=lines.append)
    # epoch 0 ends at 3 s; epoch 1 would need at least another 3 s validation: not started
    assert clock.now == 1003.0
    assert result.stop_reason == "time_limit" and len(result.history) == 1
    assert result.history[0]["abandoned_after_batches"] == 0
    # 24 training trials of 8 validation ones: about (1 + 3 * 3) validation passes
    assert result.history[0]["abandoned_epoch_seconds"] == 30.0
    assert any("epoch   1  abandoned: not started" in line for line in lines), lines


def test_a_first_epoch_estimated_too_long_is_not_started(tiny_loaders, clock, monkeypatch):
    validate = trainer_module._Run._validate

    def one_second_validation(self):
        clock.now += 1.0
        return validate(self)

    monkeypatch.setattr(trainer_module._Run, "_validate", one_second_validation)
    # 24 training trials of 8 validation ones: epoch 1 estimated at 1 + 3 * 3 = 10 s, so
    # with 1 s spent it would end at 11 s > 8 s; it is not started (it takes 7 s: 6 + 1)
    config = FAST.replace(max_epochs=50, time_limit=8.0)
    result = train(make_standin(tiny_loaders), tiny_loaders, config, log=None)
    assert clock.now == 1001.0 and len(result.history) == 1
    assert result.history[0]["abandoned_epoch_seconds"] == 10.0
    # with room for the estimate it trains: epochs of 7 s end at 8 and 15 s
    longer = train(make_standin(tiny_loaders), tiny_loaders, config.replace(time_limit=12.0))
    assert len(longer.history) == 2 and longer.stop_reason == "time_limit"


def test_the_first_epoch_of_a_video_model_is_estimated_from_frames(video_path):
    """Training clips are a few frames of a trial: trial counts alone overestimated 8-10x."""
    from neurotwin.data import LoaderConfig, make_loaders
    from neurotwin.data.recording import open_recording
    from neurotwin.train.budget import _frames

    recording = open_recording(video_path)
    config = LoaderConfig(batch_size=2, frames=5, tiers=("train", "oracle"))
    loaders = make_loaders(recording, config, progress=False)
    lengths = recording.lengths
    train_set = loaders["train"][recording.key].dataset
    oracle = recording.tier_indices("oracle")
    assert _frames(loaders["train"]) == 5 * len(train_set) > 0
    assert _frames(loaders["oracle"]) == int(lengths[oracle].sum()) > 5 * len(oracle)
