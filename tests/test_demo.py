import json

from neurotwin import demo as demo_module
from neurotwin.cli import main
from neurotwin.demo import run_demo
from neurotwin.train import trainer as trainer_module


def test_demo_runs_end_to_end_on_the_tiny_mouse(tmp_path, capsys):
    result = run_demo(tmp_path, preset="tiny", seed=1, epochs=2, progress=False, log=print)
    assert sorted(p.name for p in result.submission.iterdir()) == [
        "submission_file_final_test.csv",
        "submission_file_live_test.csv",
    ]
    assert (result.run / "model.pt").is_file()
    assert len((result.run / "metrics.jsonl").read_text().splitlines()) == 3  # epochs 0, 1, 2
    live = result.report.phases["live"].metrics["single_trial_correlation"]
    assert live.ceiling_kind == "exact" and 0 < live.ceiling < 1
    saved = json.loads(result.report_path.read_text())
    assert saved["track"] == "sensorium+"
    html = result.html.read_text()
    for section in ("Learning curve", "Receptive fields", "data:image/png;base64,"):
        assert section in html
    assert "http://" not in html and "https://" not in html
    out = capsys.readouterr().out
    assert "single_trial_correlation" in out and str(result.html.resolve()) in out

    # a second run reuses the simulated mouse and the finished training, and scores the same
    args = ["demo", "--out", str(tmp_path), "--preset", "tiny", "--seed", "1", "--epochs", "2"]
    assert main([*args, "--no-progress"]) == 0
    assert "reusing the mouse" in capsys.readouterr().out
    assert json.loads(result.report_path.read_text()) == saved


class Clock:
    """A clock that only training batches move (1 s each): timing without a timed test."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


def test_demo_keeps_a_budget_of_a_few_seconds(tmp_path, capsys, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(demo_module, "time", clock)
    monkeypatch.setattr(trainer_module, "time", clock)
    objective = trainer_module._Run._objective

    def one_second_batch(self, batch, key):
        clock.now += 1.0
        return objective(self, batch, key)

    monkeypatch.setattr(trainer_module._Run, "_objective", one_second_batch)
    # the tiny mouse: 200 training trials in batches of 128, so an epoch takes 2 s; a
    # budget of 8 s keeps 4 s for the steps after training, which leaves 4 s: two epochs
    result = run_demo(tmp_path, preset="tiny", epochs=200, budget=8.0, progress=False)
    assert result.stop_reason == "time_limit" and result.epochs == 2
    assert clock.now == 4.0
    assert list(result.steps) == [
        "simulate", "validate", "cache", "train", "predict", "score", "report"
    ]  # fmt: skip
    assert result.steps["train"] == 4.0 and sum(result.steps.values()) <= 8.0
    html = result.html.read_text()
    assert "<th>epochs trained</th><td>2</td>" in html
    assert (
        "<th>time per step</th><td>simulate 0.0 s, validate 0.0 s, cache 0.0 s, train 4.0 s" in html
    )
    assert "ended by the time budget; an epoch took 2.0 s" in html
    out = capsys.readouterr().out
    assert "trained 2 epoch(s), stopped by time_limit" in out and "(budget 8 s)" in out


def test_a_budget_that_cannot_hold_one_epoch_says_so(tmp_path, capsys, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(demo_module, "time", clock)
    monkeypatch.setattr(trainer_module, "time", clock)
    objective = trainer_module._Run._objective

    def one_second_batch(self, batch, key):
        clock.now += 1.0
        return objective(self, batch, key)

    monkeypatch.setattr(trainer_module._Run, "_objective", one_second_batch)
    # 5 s less the 4 s reserve leave 1 s; the tiny mouse's epoch has 2 batches (2 s): the
    # trainer abandons it after its first batch instead of running it whole
    result = run_demo(tmp_path, preset="tiny", budget=5.0, progress=False)
    assert result.epochs == 0 and result.stop_reason == "time_limit"
    assert clock.now == 1.0
    out = capsys.readouterr().out
    assert "WARNING: the 5 s budget leaves 1 s for training" in out
    # 2 s an epoch + 4 s reserve = 6 s, or 6 / 0.97 = 6.2 s with the 3 % reserve
    assert out.count("WARNING: NO EPOCH TRAINED: this budget cannot hold one epoch; about 6 s") == 2
    assert "the model is untrained" in out.lower() and "done in 1 s (budget 5 s)" in out
    html = result.html.read_text()
    assert "0 (the model is untrained: the budget could not hold one epoch)" in html
    assert "NO EPOCH TRAINED" in html
