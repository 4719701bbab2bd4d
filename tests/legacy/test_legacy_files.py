"""Files written by neurotwin 0.1 still load, predict and score what they did then.

``v0.1/`` was written once by ``make_legacy_files.py`` (its ``expected.json`` names the
commit) and is never regenerated: a failure here means today's code broke a saved format.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from neurotwin.models import Ensemble, load_model, resolve_model
from neurotwin.scoring.scorer import score
from neurotwin.scoring.submission import read_static_csv
from neurotwin.scoring.truth_file import load_truth
from neurotwin.train import TrainConfig
from neurotwin.train.checkpoint import load_checkpoint

V01 = Path(__file__).parent / "v0.1"
TOL = 1e-5


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    return json.loads((V01 / "expected.json").read_text())


@pytest.fixture(scope="module")
def inputs() -> dict[str, torch.Tensor]:
    with np.load(V01 / "inputs.npz") as data:
        return {k: torch.from_numpy(data[k]) for k in data.files}


def _predict(model: torch.nn.Module, inputs: dict[str, torch.Tensor], key: str) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return model(inputs, key).numpy()


def test_saved_model_predicts_as_when_saved(expected, inputs):
    model = load_model(V01 / "model.pt")
    assert model.name == "sensorium+"
    assert list(model.infos) == [expected["key"]]
    np.testing.assert_allclose(
        _predict(model, inputs, expected["key"]), expected["model"], atol=TOL
    )


def test_saved_ensemble_predicts_as_when_saved(expected, inputs):
    ensemble = load_model(V01 / "ensemble.pt")
    assert isinstance(ensemble, Ensemble) and len(ensemble) == 2
    got = _predict(ensemble, inputs, expected["key"])
    np.testing.assert_allclose(got, expected["ensemble"], atol=TOL)
    # the first member is the single saved model
    first = _predict(ensemble.member(0), inputs, expected["key"])
    np.testing.assert_allclose(first, expected["model"], atol=TOL)


def test_run_folder_model_loads_by_folder_and_predicts(expected, inputs):
    model = resolve_model(V01 / "run")
    got = _predict(model, inputs, expected["key"])
    np.testing.assert_allclose(got, expected["run"], atol=TOL)


def test_run_folder_checkpoint_config_and_metrics_agree(expected, inputs):
    run = V01 / "run"
    state = load_checkpoint(run / "checkpoint.pt")
    config = json.loads((run / "config.json").read_text())
    assert TrainConfig.from_dict(state["config"]) == TrainConfig.from_dict(config["train"])
    assert config["model"]["name"] == "sensorium+"
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [0, 1] == [h["epoch"] for h in state["history"]]
    for line, entry in zip(metrics, state["history"], strict=True):
        assert line["validation_correlation"] == pytest.approx(entry["validation_correlation"])
    assert state["epoch"] == 1 and state["stopping"]["epoch"] == 1
    # what a resume restores fits today's model: weights, best weights, optimiser state
    model = load_model(run / "model.pt")
    model.load_state_dict(state["model"])
    torch.optim.Adam(model.parameters()).load_state_dict(state["optimizer"])
    model.load_state_dict(state["best_state"])  # model.pt holds the best weights
    got = _predict(model, inputs, expected["key"])
    np.testing.assert_allclose(got, expected["run"], atol=TOL)


def test_static_truth_and_2022_submission_score_as_recorded(expected):
    truth = load_truth(V01 / "truth-sensorium+.npz")
    assert truth.track == "sensorium+"
    live = read_static_csv(V01 / "submission-2022" / "submission_file_live_test.csv")
    tier = truth.mice[0].tiers["test"]
    assert sorted(live.trial_ids.astype(str)) == sorted(tier.trial_ids.astype(str))
    assert tier.rates is not None  # the simulator's exact ceiling is kept
    report = score("sensorium+", V01 / "truth-sensorium+.npz", V01 / "submission-2022")
    _assert_scores(report, expected["score_2022"])


def test_video_truth_and_2023_parquet_score_as_recorded(expected):
    truth = load_truth(V01 / "truth-video-main.npz")
    assert truth.track == "video-main"
    assert truth.mice[0].tiers["live_test_main"].n_frames is not None
    report = score("video-main", V01 / "truth-video-main.npz", V01 / "submission-2023.zip")
    _assert_scores(report, expected["score_2023"])


def _assert_scores(report: Any, recorded: dict[str, dict[str, float]]) -> None:
    assert set(report.phases) == set(recorded)
    for phase, metrics in recorded.items():
        got = {name: m.value for name, m in report.phases[phase].metrics.items()}
        assert set(got) == set(metrics)
        for name, value in metrics.items():
            assert got[name] == pytest.approx(value, abs=TOL), (phase, name)
