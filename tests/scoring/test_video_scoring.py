import io
import stat
import zipfile

import numpy as np
import pytest

from neurotwin.data.normalize import collapse_statistics, response_scale
from neurotwin.scoring import SubmissionError, make_truth, score, video_correlation
from neurotwin.scoring.errors import ProblemList
from neurotwin.scoring.submission import (
    VideoPredictions,
    check_zip,
    read_video_parquet,
    video_parquet_bytes,
    write_submission,
)


def _predictions(truth, tier, noise=0.5, extra_frames=0, seed=0):
    rng = np.random.default_rng(seed)
    mice, trials, values, ids = [], [], [], {}
    for mouse in truth.mice:
        t = mouse.tiers[tier]
        ids[mouse.name] = mouse.unit_ids
        for k in range(t.n_trials):
            n = int(t.n_frames[k]) + (extra_frames if t.lengths[k] > 300 else 0)
            row = np.nan_to_num(t.responses[k, :, :n], nan=1.0)
            values.append(row + noise * rng.normal(size=row.shape).astype("f4"))
            mice.append(mouse.name)
            trials.append(t.trial_ids[k])
    return VideoPredictions(np.array(mice), np.array(trials), ids, values)


def test_video_truth_uses_simulator_and_exact_ceiling(video_recordings, tmp_path):
    truth = make_truth("video-main", video_recordings)
    assert truth.has_rates
    t = truth.mice[0].tiers["live_test_main"]
    np.testing.assert_array_equal(t.lengths, [75, 75, 320, 320])
    np.testing.assert_array_equal(t.n_frames, [25, 25, 250, 250])
    preds = {
        p: _predictions(truth, truth_tier, extra_frames=20)
        for p, truth_tier in (("live", "live_test_main"), ("final", "final_test_main"))
    }
    path = write_submission("video-main", tmp_path / "sub.zip", preds)
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == [
            "predictions_final_main.parquet.brotli",
            "predictions_live_main.parquet.brotli",
        ]
    report = score("video-main", video_recordings, path)
    s = report.phases["live"].metrics["single_trial_correlation"]
    assert s.ceiling_kind == "exact"
    for mouse in truth.mice:
        tt = mouse.tiers["live_test_main"]
        exact = video_correlation(tt.rates, tt.responses, tt.n_frames)
        np.testing.assert_allclose(s.ceiling_per_neuron[mouse.name], exact)
    pooled = np.concatenate(list(s.per_neuron.values())).mean()
    assert s.value == pytest.approx(pooled)
    assert set(s.per_mouse) == {m.name for m in truth.mice}
    assert s.normalized == pytest.approx(s.value / s.ceiling)
    # repeated videos 10 and 12 in the live tier: correlation to average is defined
    assert np.isfinite(report.phases["live"].metrics["correlation_to_average"].value)


def test_parquet_round_trip_and_bonus_classes(video_recordings, tmp_path):
    truth = make_truth("video-bonus", video_recordings)
    pred = _predictions(truth, "live_test_bonus")
    back = read_video_parquet(video_parquet_bytes(pred))
    np.testing.assert_array_equal(back.mice, pred.mice)
    for a, b in zip(back.values, pred.values, strict=True):
        np.testing.assert_array_equal(a, b)
    preds = {"live": pred, "final": _predictions(truth, "final_test_bonus")}
    report = score("video-bonus", truth, write_submission("video-bonus", tmp_path / "b.zip", preds))
    assert set(report.phases["final"].metrics["single_trial_correlation"].per_class) == {
        "gabor",
        "noise",
    }


def test_bad_parquet_rows_are_all_reported(video_recordings, tmp_path):
    truth = make_truth("video-main", video_recordings)
    pred = _predictions(truth, "live_test_main")
    pred.values[0] = pred.values[0][:, :-1]  # one frame short
    pred.values[1][2, 3] = np.inf
    pred.trial_ids[2] = "nope"
    f = tmp_path / "predictions_live_main.parquet.brotli"
    f.write_bytes(video_parquet_bytes(pred))
    with pytest.raises(SubmissionError) as exc:
        score("video-main", truth, f)
    text = str(exc.value)
    assert "row 1: 1 prediction(s) are NaN or infinite" in text
    pred.values[1][2, 3] = 0.0
    f.write_bytes(video_parquet_bytes(pred))
    with pytest.raises(SubmissionError) as exc:
        score("video-main", truth, f)
    text = str(exc.value)
    assert "row 0: trial '1003' has 24 frames per neuron, expected 25" in text
    assert "'nope' is not a scored trial" in text and "missing" in text
    with pytest.raises(SubmissionError, match="sensorium"):
        score(
            "video-main",
            truth,
            tmp_path / "submission_file_live_test.csv"
            if (tmp_path / "submission_file_live_test.csv").write_text("a")
            else None,
        )


def _zip(path, entries):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            if mode is not None:
                info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


def test_unsafe_zips_are_refused_before_extraction(tmp_path):
    expected = ["a.parquet.brotli"]
    bad = _zip(
        tmp_path / "bad.zip",
        [
            ("/abs.parquet.brotli", b"x", None),
            ("../up.parquet.brotli", b"x", None),
            ("link", b"target", stat.S_IFLNK | 0o777),
            ("inner.zip", b"PK", None),
            ("sub/a.parquet.brotli", b"x", None),
            ("__MACOSX/._a", b"x", None),
        ],
    )
    problems = ProblemList()
    check_zip(bad, expected, 10**6, problems)
    text = "\n".join(str(p) for p in problems.items)
    for needle in (
        "absolute path",
        "'..'",
        "links are not allowed",
        "nested archives",
        "must sit at the zip's root",
        "a.parquet.brotli is missing",
    ):
        assert needle in text
    assert "__MACOSX" not in text
    big = io.BytesIO()
    with zipfile.ZipFile(big, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.parquet.brotli", b"\0" * 2_000_000)
    (tmp_path / "big.zip").write_bytes(big.getvalue())
    problems = ProblemList()
    check_zip(tmp_path / "big.zip", expected, 1_000_000, problems)
    assert "refused before extraction" in str(problems.items[0])


def test_response_scale_floor_and_time_axis():
    std = np.array([1.0, 2.0, 0.0, 0.02])
    # mean std 0.755 -> threshold 0.00755: the silent neuron is floored, 0.02 is kept
    np.testing.assert_allclose(response_scale({"std": std}), [1.0, 2.0, 0.00755, 0.02])
    mean_t = np.array([[1.0, 3.0], [2.0, 2.0]])
    std_t = np.array([[1.0, 1.0], [3.0, 4.0]])
    # law of total variance: neuron 0: 1 + var([1, 3]) = 2; neuron 1: (9 + 16) / 2 + 0
    np.testing.assert_allclose(collapse_statistics(mean_t, std_t, 2)[1], np.sqrt([2.0, 12.5]))
    np.testing.assert_allclose(response_scale({"mean": mean_t, "std": std_t}), np.sqrt([2.0, 12.5]))
    per_frame = response_scale({"mean": mean_t, "std": std_t}, per_frame=True)
    assert per_frame.shape == (2, 2)


def test_repeats_of_a_simulated_video_recording_are_grouped_by_stimulus(tmp_path):
    from neurotwin.simulate import simulate_video

    (mouse,) = simulate_video(tmp_path, preset="tiny", seed=0)
    tier = make_truth("video-main", [mouse.path]).mice[0].tiers["live_test_main"]
    # tiny preset: 2 test videos shown 2 times each
    assert tier.n_trials == 4
    assert len(set(tier.stimulus_ids.tolist())) == 2
