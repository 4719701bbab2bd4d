"""Video twins through predict_tiers, make_submission and evaluate: several mice, both tracks."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from neurotwin.data import open_recording
from neurotwin.errors import NeurotwinError
from neurotwin.models import create_model, recording_infos
from neurotwin.scoring import score
from neurotwin.scoring.predictions import VideoPredictions
from neurotwin.scoring.scorer import resolve_truth
from neurotwin.scoring.tracks import SINGLE_TRIAL, get_track
from neurotwin.submit import evaluate, make_submission, predict_tiers, track_predictions
from tiny import write_static

#: A small video-gru (the kit's settings scaled down).
TINY_GRU: dict[str, Any] = {
    "core": {
        "hidden_channels": 4,
        "layers": 1,
        "input_kern": 5,
        "gru_channels": 4,
        "gru_input_kern": 3,
        "gru_recurrent_kern": 3,
    }
}
CLASSES = 5  # out-of-domain classes of the simulator's bonus tiers


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Any:
    """One torch thread: on a shared machine, more make these small convolutions crawl."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def mice(video_mice: list[Path]) -> list[Path]:
    return video_mice


@pytest.fixture(scope="module")
def cache(video_cache: Path) -> Path:
    return video_cache


@pytest.fixture(scope="module")
def model(mice: list[Path]) -> Any:
    torch.manual_seed(0)
    infos = recording_infos([str(p) for p in mice], (12, 20))
    return create_model("video-gru", infos, **TINY_GRU)


def test_predict_tiers_gives_the_scored_frames_of_whole_trials(
    mice: list[Path], model: Any, cache: Path
) -> None:
    tiers = ["oracle", "live_test_main"]
    out = predict_tiers(model, mice[0], tiers, cache_dir=cache)
    recording = open_recording(mice[0])
    for tier in tiers:
        pred = out[tier]
        assert isinstance(pred, VideoPredictions)
        idx = recording.tier_indices(tier)
        np.testing.assert_array_equal(pred.trial_ids, recording.trial_ids[idx].astype(str))
        assert set(pred.mice) == {recording.name}
        lengths = np.array([recording.trial_length(int(i)) for i in idx])
        assert [v.shape for v in pred.values] == [(12, n - 50) for n in lengths]
        assert all(np.isfinite(v).all() and (v > 0).all() for v in pred.values)
    # one trial per batch gives the same rows: the zero padding of a batch never leaks
    alone = predict_tiers(model, mice[0], ["oracle"], batch_size=1, cache_dir=cache)["oracle"]
    for a, b in zip(alone.values, out["oracle"].values, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_main_track_submission_of_two_mice_scores_as_evaluate(
    mice: list[Path], model: Any, cache: Path, tmp_path: Path
) -> None:
    track = get_track("video-main")
    dest = make_submission(model, mice, track, tmp_path / "sub", cache_dir=cache)
    assert dest == tmp_path / "sub" / "submission_video-main.zip"
    with zipfile.ZipFile(dest) as zf:
        assert sorted(zf.namelist()) == sorted(track.submission_files.values())
    report = evaluate(model, mice, track, cache_dir=cache)
    assert report.to_dict() == score(track, [str(p) for p in mice], dest).to_dict()
    for phase in ("live", "final"):
        metric = report.phases[phase].metrics[SINGLE_TRIAL]
        assert metric.ceiling_kind == "exact" and metric.ceiling is not None
        assert sorted(metric.per_mouse) == sorted(open_recording(p).name for p in mice)


def test_bonus_track_is_scored_per_class_and_per_frame_on_request(
    mice: list[Path], model: Any, cache: Path
) -> None:
    report = evaluate(model, mice, "video-bonus", cache_dir=cache)
    metric = report.phases["live"].metrics[SINGLE_TRIAL]
    assert len(metric.per_class) == CLASSES and metric.ceiling_kind == "exact"
    assert len(metric.per_mouse) == 2
    # each class's exact ceiling is what the simulator's noiseless rates score on it
    truth = resolve_truth(get_track("video-bonus"), [str(p) for p in mice])
    rates = {}
    for phase, tier in get_track("video-bonus").tiers.items():
        rows = [(m, t, r[:, :n]) for m in truth.mice for t, r, n in zip(
            m.tiers[tier].trial_ids, m.tiers[tier].rates, m.tiers[tier].n_frames, strict=True
        )]  # fmt: skip
        rates[phase] = VideoPredictions(
            mice=np.array([m.name for m, _, _ in rows]),
            trial_ids=np.array([t for _, t, _ in rows]),
            neuron_ids={m.name: m.unit_ids for m in truth.mice},
            values=[r for _, _, r in rows],
        )
    perfect = score("video-bonus", truth, rates).phases["live"].metrics[SINGLE_TRIAL]
    assert perfect.per_class == pytest.approx(metric.per_class_ceiling)
    assert f"class {next(iter(metric.per_class))}" in report.table()
    seen: list[bool] = []
    import neurotwin.submit as submit

    original = submit.resolve_truth

    def spy(track: Any, truth: Any, *, per_frame: bool = False) -> Any:
        seen.append(per_frame)
        return original(track, truth, per_frame=per_frame)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(submit, "resolve_truth", spy)
        framed = evaluate(model, mice, "video-bonus", per_frame=True, cache_dir=cache)
    assert seen == [True]
    assert framed.phases["live"].metrics[SINGLE_TRIAL].per_class.keys() == metric.per_class.keys()


def test_kinds_must_match(mice: list[Path], model: Any, cache: Path, tmp_path: Path) -> None:
    static = write_static(tmp_path / "static")
    static_model = create_model("sensorium", recording_infos(static, (12, 18)), hidden_channels=2)
    with pytest.raises(NeurotwinError, match=r"is a video \(2023\) recording but model 'sens"):
        predict_tiers(static_model, mice[0], ["oracle"], cache_dir=cache)
    with pytest.raises(NeurotwinError, match=r"is a static \(2022\) recording but model 'video"):
        predict_tiers(model, static, ["test"], cache_dir=cache)
    with pytest.raises(NeurotwinError, match=r"'sensorium' is a static model; track 'video-m"):
        make_submission(static_model, mice, "video-main", tmp_path / "s", cache_dir=cache)
    with pytest.raises(NeurotwinError, match=r"'video-gru' is a video model; track 'sensorium"):
        evaluate(model, static, "sensorium+", cache_dir=cache)
    with pytest.raises(NeurotwinError, match=r"track 'sensorium\+' scores one recording; 2"):
        track_predictions(static_model, [static, static], "sensorium+")


def test_cli_predicts_submits_and_evaluates_several_mice(
    mice: list[Path], model: Any, cache: Path, tmp_path: Path, capsys: Any
) -> None:
    import json

    from neurotwin.cli import main
    from neurotwin.models import save_model
    from neurotwin.scoring.video_parquet import read_video_parquet

    save_model(model, tmp_path / "model.pt")
    common = ["--model", str(tmp_path / "model.pt"), "--recording", *map(str, mice)]
    common += ["--cache-dir", str(cache), "--device", "cpu"]
    assert main(["predict", *common, "--tiers", "live_test_bonus", "--out", str(tmp_path)]) == 0
    written = read_video_parquet(tmp_path / "predictions_live_test_bonus.parquet.brotli")
    direct = predict_tiers(model, mice[1], ["live_test_bonus"], cache_dir=cache)
    expected = direct["live_test_bonus"]
    assert isinstance(expected, VideoPredictions)
    rows = np.flatnonzero(written.mice == open_recording(mice[1]).name)
    assert len(rows) == len(expected.values) and len(written.mice) == 2 * len(rows)
    for r, values in zip(rows, expected.values, strict=True):
        np.testing.assert_allclose(written.values[r], values, rtol=1e-6)

    assert main(["submit", *common, "--track", "video-bonus", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "submission_video-bonus.zip").is_file()
    assert "predictions_live_test_bonus_ood.parquet.brotli" in capsys.readouterr().out

    assert main(["evaluate", *common, "--track", "video-main", "--per-frame", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    live = report["phases"]["live"]["metrics"][SINGLE_TRIAL]
    assert len(live["per_mouse"]) == 2 and live["ceiling_kind"] == "exact"


def test_cli_predict_writes_one_folder_per_static_recording(tmp_path: Path) -> None:
    from neurotwin.cli import main
    from neurotwin.models import save_model
    from tiny import STATIC_NAME

    other = STATIC_NAME.replace("11-2-3", "11-2-4")
    paths = [write_static(tmp_path / "a"), write_static(tmp_path / "b", name=other, seed=1)]
    infos = recording_infos([str(p) for p in paths], (12, 18))
    save_model(create_model("sensorium", infos, hidden_channels=2), tmp_path / "model.pt")
    args = ["predict", "--model", str(tmp_path / "model.pt"), "--recording", *map(str, paths)]
    assert main([*args, "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "c")]) == 0
    for path in paths:
        for tier in ("test", "final_test"):
            assert (tmp_path / "out" / path.name / f"predictions_{tier}.csv").is_file()
