import json

import numpy as np
import pytest

from neurotwin.cli import main
from neurotwin.data import open_recording
from neurotwin.data.normalize import response_scale
from neurotwin.scoring import (
    SubmissionError,
    TruthError,
    load_truth,
    make_truth,
    read_static_csv,
    save_truth,
    score,
    single_trial_correlation,
    write_static_csv,
)
from neurotwin.scoring.normalize import standardize
from neurotwin.scoring.submission import StaticPredictions, static_csv_bytes, write_submission

from .conftest import write_static


def _perfect(truth, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    mouse = truth.mice[0]
    out = {}
    for phase, tier in (("live", "test"), ("final", "final_test")):
        t = mouse.tiers[tier]
        out[phase] = StaticPredictions(
            trial_ids=t.trial_ids,
            image_ids=t.stimulus_ids,
            neuron_ids=mouse.unit_ids,
            values=t.responses + noise * rng.normal(size=t.responses.shape).astype("f4"),
        )
    return out


def test_truth_from_recording_is_standardised_and_round_trips(static_recording, tmp_path):
    truth = make_truth("sensorium", [static_recording])
    rec = open_recording(static_recording)
    idx = rec.tier_indices("test")
    raw = np.stack([rec.load("responses", int(i)) for i in idx])
    expected = standardize(raw, response_scale(rec.statistics("responses")))
    np.testing.assert_array_equal(truth.mice[0].tiers["test"].responses, expected)
    trial_ids = truth.mice[0].tiers["test"].trial_ids
    np.testing.assert_array_equal(trial_ids, rec.trial_ids[idx].astype(str))
    path = save_truth(truth, tmp_path / "t.npz")
    back = load_truth(path)
    assert back.track == "sensorium" and back.mice[0].name == rec.name
    np.testing.assert_array_equal(
        back.mice[0].tiers["final_test"].responses, truth.mice[0].tiers["final_test"].responses
    )


def test_csv_round_trips_byte_for_byte(static_recording, tmp_path):
    truth = make_truth("sensorium", [static_recording])
    pred = _perfect(truth, noise=0.3)["live"]
    path = write_static_csv(tmp_path / "submission_file_live_test.csv", pred)
    back = read_static_csv(path)
    np.testing.assert_array_equal(back.values, pred.values.astype(np.float32))
    np.testing.assert_array_equal(back.neuron_ids, pred.neuron_ids)
    np.testing.assert_array_equal(back.trial_ids, pred.trial_ids)
    assert static_csv_bytes(back) == path.read_bytes()


def test_score_perfect_and_shuffled_submissions(static_recording, tmp_path):
    truth = make_truth("sensorium", [static_recording])
    preds = _perfect(truth, noise=0.5)
    write_submission("sensorium", tmp_path / "sub", preds)
    report = score("sensorium", static_recording, tmp_path / "sub")
    live = report.phases["live"].metrics["single_trial_correlation"]
    t = truth.mice[0].tiers["test"]
    expected = single_trial_correlation(preds["live"].values, t.responses)
    np.testing.assert_allclose(live.per_neuron[truth.mice[0].name], expected, atol=1e-6)
    assert live.value == pytest.approx(expected.mean(), abs=1e-6)
    # 4 repeated images: too few for an estimated ceiling (a perfect model would exceed it)
    assert live.ceiling is None and "too few repeated stimuli (4)" in (live.note or "")
    assert set(report.phases) == {"live", "final"}
    assert "feve" in report.phases["final"].metrics
    # rows and neurons in another (consistent) order give the same scores
    p = preds["live"]
    rows, cols = np.random.default_rng(3).permutation(12), np.array([4, 2, 0, 1, 3])
    shuffled = StaticPredictions(
        p.trial_ids[rows], p.image_ids[rows], p.neuron_ids[cols], p.values[rows][:, cols]
    )
    write_static_csv(tmp_path / "submission_file_live_test.csv", shuffled)
    again = score("sensorium", static_recording, tmp_path / "submission_file_live_test.csv")
    assert set(again.phases) == {"live"}
    assert again.phases["live"].metrics["single_trial_correlation"].value == pytest.approx(
        live.value, abs=1e-7
    )


def test_bad_csv_reports_every_problem(static_recording, tmp_path):
    truth = make_truth("sensorium", [static_recording])
    good = static_csv_bytes(_perfect(truth)["live"]).decode().splitlines()
    lines = list(good)
    lines[3] = lines[2]  # duplicated trial (and so one trial missing)
    parts = lines[6].split('"')
    parts[1] = "[abc," + parts[1].split(",", 1)[1]  # first value is text
    lines[6] = '"'.join(parts)
    parts = lines[7].split('"')
    parts[1] = "[" + parts[1][1:].split(",", 1)[1]  # one value short
    lines[7] = '"'.join(parts)
    f = tmp_path / "submission_file_live_test.csv"
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(SubmissionError) as exc:
        score("sensorium", static_recording, f)
    text = str(exc.value)
    assert "line 7: prediction value 0 ('abc') is not a number" in text
    assert "line 8: prediction has 4 values, expected 5" in text
    # non-numbers stop parsing; fix them to see the alignment problems, all at once
    lines[6], lines[7] = good[6], good[7]
    parts = lines[8].split('"')
    parts[1] = parts[1].replace("[", "[nan, ", 1).rsplit(",", 1)[0] + "]"
    lines[8] = '"'.join(parts)
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(SubmissionError) as exc:
        score("sensorium", static_recording, f)
    text = str(exc.value)
    assert "line 9: 1 prediction(s) are NaN (first at position 0)" in text
    f.write_text("\n".join(good[:1] + good[2:4] + good[3:]) + "\n")
    with pytest.raises(SubmissionError) as exc:
        score("sensorium", static_recording, f)
    text = str(exc.value)
    assert "is duplicated" in text and "1 trial(s) of the tier are missing" in text
    extra = [*good, good[1].replace(good[1].split(",")[0], "999999", 1)]
    ids = '"[11, 12, 13, 14, 15]"'
    extra = [ln.replace(ids, '"[11, 12, 13, 14, 16]"') for ln in extra]
    f.write_text("\n".join(extra) + "\n")
    with pytest.raises(SubmissionError) as exc:
        score("sensorium", static_recording, f)
    text = str(exc.value)
    assert "(extra)" in text and "unknown neuron id(s) (e.g. [16])" in text
    assert "neuron id(s) missing (e.g. [15])" in text
    mixed = list(good)
    mixed[4] = mixed[4].replace(ids, '"[12, 11, 13, 14, 15]"')
    f.write_text("\n".join(mixed) + "\n")
    with pytest.raises(SubmissionError, match="line 5: neuron_ids differ from line 2"):
        score("sensorium", static_recording, f)
    f.write_text("")
    with pytest.raises(SubmissionError, match="is empty"):
        score("sensorium", static_recording, f)


def test_wrong_track_files_and_truth(static_recording, tmp_path):
    truth = make_truth("sensorium", [static_recording])
    f = tmp_path / "predictions_live_main.parquet.brotli"
    f.write_bytes(b"x")
    with pytest.raises(SubmissionError, match="video-main"):
        score("sensorium", truth, f)
    save_truth(truth, tmp_path / "t.npz")
    with pytest.raises(TruthError, match="track sensorium, not sensorium\\+"):
        score("sensorium+", tmp_path / "t.npz", f)


def test_withheld_recording_cannot_be_truth(tmp_path):
    rec = write_static(tmp_path, withheld=True)
    with pytest.raises(TruthError, match="all zeros"):
        make_truth("sensorium", [rec])


def test_cli_score_prints_table_and_json(static_recording, tmp_path, capsys):
    truth = make_truth("sensorium", [static_recording])
    write_submission("sensorium", tmp_path / "sub", _perfect(truth, noise=0.2))
    assert (
        main(
            [
                "make-truth",
                "--track",
                "sensorium",
                "--recording",
                str(static_recording),
                "--out",
                str(tmp_path / "t.npz"),
            ]
        )
        == 0
    )
    capsys.readouterr()
    args = [
        "score",
        "--track",
        "sensorium",
        "--truth",
        str(tmp_path / "t.npz"),
        "--submission",
        str(tmp_path / "sub"),
    ]
    assert main(args) == 0
    table = capsys.readouterr().out
    assert "single_trial_correlation" in table and "oracle" in table
    assert main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["phases"]["final"]["metrics"]["single_trial_correlation"]["value"] > 0.5
    (tmp_path / "sub" / "submission_file_final_test.csv").write_text("")
    assert main(args) == 2
    assert "is empty" in capsys.readouterr().err
