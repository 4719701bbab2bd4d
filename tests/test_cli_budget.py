"""Durations on the command line: ``train --time-limit`` and ``demo --budget`` (issue 25)."""

from __future__ import annotations

import argparse
import json

import pytest

from neurotwin.cli import main
from neurotwin.cli.train import duration
from tiny import write_static


@pytest.mark.parametrize(
    ("text", "seconds"), [("600", 600.0), ("90s", 90.0), ("10m", 600.0), ("1.5h", 5400.0)]
)
def test_durations_with_and_without_a_unit(text, seconds):
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["0", "-5m", "ten", "5d", "inf", "nan", ""])
def test_bad_durations_are_usage_errors(text):
    with pytest.raises(argparse.ArgumentTypeError, match="expected a positive duration"):
        duration(text)


@pytest.mark.parametrize(
    "command", [["demo", "--budget", "0"], ["train", "x", "--out", "y", "--time-limit", "soon"]]
)
def test_commands_refuse_a_bad_duration_in_one_line(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(command)
    assert exit_info.value.code == 2
    assert "expected a positive duration" in capsys.readouterr().err


def test_train_records_its_time_limit_and_compile_mode(tmp_path, capsys):
    path = write_static(tmp_path / "rec", hw=(72, 128))
    out = tmp_path / "run"
    args = ["train", str(path), "--out", str(out), "--epochs", "1", "--batch-size", "8"]
    assert main([*args, "--time-limit", "1h", "--compile", "auto", "--no-progress"]) == 0
    train = json.loads((out / "config.json").read_text())["train"]
    assert train["time_limit"] == 3600.0 and train["compile"] == "auto"
    assert "(max_epochs)" in capsys.readouterr().out


def test_the_demo_budget_counts_the_command_start_up(monkeypatch):
    import time

    from neurotwin import demo as demo_module

    calls: list[dict] = []
    monkeypatch.setattr(demo_module, "run_demo", lambda out, **kw: calls.append(kw))
    before = time.perf_counter()
    assert main(["demo", "--preset", "tiny", "--budget", "20s", "--no-progress"]) == 0
    (kwargs,) = calls
    assert kwargs["budget"] == 20.0
    # the clock starts before neurotwin.demo (and torch) is imported, not inside run_demo
    assert before <= kwargs["started"] <= time.perf_counter()
    steps = demo_module._Steps(started=time.perf_counter() - 7.0)
    assert list(steps.seconds) == ["start"] and steps.seconds["start"] >= 7.0
