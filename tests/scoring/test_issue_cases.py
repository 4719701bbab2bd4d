"""Cases of issues 23 and 24 on the scorer: each failed before its fix."""

import io
import json
import os
import shutil
import zipfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from neurotwin.cli import main
from neurotwin.scoring import (
    SubmissionError,
    TruthError,
    get_track,
    make_truth,
    oracle_correlation,
    save_truth,
    score,
)
from neurotwin.scoring.ceilings import estimated_ceiling
from neurotwin.scoring.submission import (
    StaticPredictions,
    VideoPredictions,
    static_csv_bytes,
    video_parquet_bytes,
    write_submission,
)
from neurotwin.scoring.truth import TierTruth
from neurotwin.simulate import simulate_static

from .conftest import VIDEO_NAMES, write_static, write_video

LIVE_CSV = "submission_file_live_test.csv"
FINAL_CSV = "submission_file_final_test.csv"


def _static_preds(truth, tier, ids=None):
    mouse = truth.mice[0]
    t = mouse.tiers[tier]
    return StaticPredictions(
        trial_ids=t.trial_ids if ids is None else ids,
        image_ids=t.stimulus_ids,
        neuron_ids=mouse.unit_ids,
        values=t.responses + 0.1,
    )


def _video_preds(truth, tier, ident=None):
    mice, trials, values, ids = [], [], [], {}
    for mouse in truth.mice:
        t = mouse.tiers[tier]
        ids[mouse.name] = mouse.unit_ids
        for k in range(t.n_trials):
            values.append(np.nan_to_num(t.responses[k, :, : int(t.n_frames[k])], nan=1.0))
            mice.append(mouse.name)
            trials.append(t.trial_ids[k] if ident is None else ident(t, k))
    return VideoPredictions(np.array(mice), np.array(trials), ids, values)


# ---------------------------------------------------------------- 23 §1: phases
def test_zip_with_one_phase_scores_like_the_bare_file(video_recordings, tmp_path):
    truth = make_truth("video-bonus", video_recordings)
    both = write_submission(
        "video-bonus",
        tmp_path / "both.zip",
        _both(truth, "video-bonus", _video_preds),
    )
    with zipfile.ZipFile(both) as zf:
        live_name = "predictions_live_test_bonus_ood.parquet.brotli"
        data = zf.read(live_name)
    (tmp_path / live_name).write_bytes(data)
    with zipfile.ZipFile(tmp_path / "live.zip", "w") as zf:
        zf.writestr(live_name, data)
    bare = score("video-bonus", video_recordings, tmp_path / live_name)
    zipped = score("video-bonus", video_recordings, tmp_path / "live.zip")
    assert set(zipped.phases) == {"live"}
    assert zipped.to_dict()["phases"] == bare.to_dict()["phases"]
    assert any("phase final not scored" in n for n in zipped.notes)
    with zipfile.ZipFile(tmp_path / "none.zip", "w") as zf:
        zf.writestr("readme.txt", b"x")
    with pytest.raises(SubmissionError, match="is missing"):
        score("video-bonus", video_recordings, tmp_path / "none.zip")


def truth_tiers(track):
    t = get_track(track)
    return [(p, t.tier(p)) for p in ("live", "final")]


def _both(truth, track, make):
    return {p: make(truth, t) for p, t in truth_tiers(track)}


def _withhold_final(rec):
    tiers = np.load(rec / "meta/trials/tiers.npy")
    for i in np.flatnonzero(tiers == "final_test"):
        f = rec / "data/responses" / f"{i}.npy"
        np.save(f, np.zeros_like(np.load(f)))


def test_live_only_truth_scores_the_live_phase_with_a_note(tmp_path, capsys):
    rec = write_static(tmp_path)
    _withhold_final(rec)
    truth = make_truth("sensorium", [rec])
    assert list(truth.mice[0].tiers) == ["test"]
    assert any("final_test" in n and "withheld" in n for n in truth.notes)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / LIVE_CSV).write_bytes(static_csv_bytes(_static_preds(truth, "test")))
    report = score("sensorium", rec, tmp_path / "sub" / LIVE_CSV)
    assert set(report.phases) == {"live"}
    assert "withheld" in report.table()
    # evaluate's path: predictions of both phases in memory, final has no ground truth
    preds = {"live": _static_preds(truth, "test"), "final": _static_preds(truth, "test")}
    assert set(score("sensorium", rec, preds).phases) == {"live"}
    out = tmp_path / "t.npz"
    args = ["make-truth", "--track", "sensorium", "--recording", str(rec), "--out", str(out)]
    assert main(args) == 0
    assert "withheld" in capsys.readouterr().out
    assert set(score("sensorium", out, tmp_path / "sub").phases) == {"live"}


def test_recording_without_final_tier_scores_live(tmp_path):
    rec = write_static(tmp_path)
    tiers = np.load(rec / "meta/trials/tiers.npy")
    tiers[tiers == "final_test"] = "test"
    np.save(rec / "meta/trials/tiers.npy", tiers)
    truth = make_truth("sensorium", [rec])
    assert any("has no trials" in n for n in truth.notes)
    (tmp_path / LIVE_CSV).write_bytes(static_csv_bytes(_static_preds(truth, "test")))
    assert set(score("sensorium", rec, tmp_path / LIVE_CSV).phases) == {"live"}
    # a final file alone against a truth without final: refused, saying why
    (tmp_path / FINAL_CSV).write_bytes(static_csv_bytes(_static_preds(truth, "test")))
    with pytest.raises(SubmissionError, match=r"nothing to score.*no trials"):
        score("sensorium", rec, tmp_path / FINAL_CSV)


# ---------------------------------------------------------------- 23 §2: trial ids
def test_video_trial_ids_as_file_indices_are_accepted(video_recordings, tmp_path):
    truth = make_truth("video-main", video_recordings)
    reports = {}
    for tag, ident in (
        ("trial_idx", None),
        ("file_index", lambda t, k: str(t.file_indices[k])),
        ("npy_name", lambda t, k: f"{t.file_indices[k]}.npy"),
    ):
        preds = {p: _video_preds(truth, t, ident) for p, t in truth_tiers("video-main")}
        path = write_submission("video-main", tmp_path / f"{tag}.zip", preds)
        reports[tag] = score("video-main", video_recordings, path).to_dict()
    assert reports["file_index"] == reports["trial_idx"] == reports["npy_name"]


def test_trial_ids_fitting_neither_convention_say_so(video_recordings, tmp_path):
    truth = make_truth("video-main", video_recordings)
    preds = _video_preds(truth, "live_test_main", lambda t, k: str(9000 + k))
    f = tmp_path / "predictions_live_main.parquet.brotli"
    f.write_bytes(video_parquet_bytes(preds))
    with pytest.raises(SubmissionError) as exc:
        score("video-main", video_recordings, f)
    assert "fit neither convention: 0 of 4 are meta/trials/trial_idx values" in str(exc.value)


def test_static_trial_ids_as_file_names(static_recording, tmp_path):
    truth = make_truth("sensorium", [static_recording])
    t = truth.mice[0].tiers["test"]
    names = np.array([f"{i}.npy" for i in t.file_indices])
    (tmp_path / LIVE_CSV).write_bytes(static_csv_bytes(_static_preds(truth, "test", names)))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / LIVE_CSV).write_bytes(static_csv_bytes(_static_preds(truth, "test")))
    a = score("sensorium", static_recording, tmp_path / LIVE_CSV).to_dict()
    b = score("sensorium", static_recording, tmp_path / "b" / LIVE_CSV).to_dict()
    assert a == b


# ---------------------------------------------------------------- 23 §3: no silent wrong score
def test_nan_per_frame_statistics_are_an_error(tmp_path):
    recs = [write_video(tmp_path, name, seed=k) for k, name in enumerate(VIDEO_NAMES)]
    std = np.ones((4, 330))
    std[:, 60] = np.nan  # frame 60 lies in every scored window (frames 50..)
    np.save(recs[0] / "meta/statistics/responses/all/std.npy", std)
    np.save(recs[0] / "meta/statistics/responses/all/mean.npy", np.ones((4, 330)))
    with pytest.raises(TruthError, match=r"NaN or infinite inside the scored window.*frame 60"):
        make_truth("video-main", recs, per_frame=True)


def test_estimated_ceiling_is_corrected_for_the_noise_of_the_averaged_repeats():
    rng = np.random.default_rng(0)
    n_images, repeats, n_neurons = 60, 4, 200
    signal = rng.normal(size=(n_images, n_neurons))
    stim = np.repeat(np.arange(n_images), repeats)
    noise_sd = rng.uniform(0.5, 2.0, size=n_neurons)
    responses = signal[stim] + noise_sd * rng.normal(size=(len(stim), n_neurons))
    truth = TierTruth(np.arange(len(stim)).astype(str), stim.astype(str), responses)
    est = estimated_ceiling(truth)
    true = 1 / np.sqrt(1 + noise_sd**2)  # corr(s, s + e) with Var(s) = 1
    perfect = np.array([np.corrcoef(signal[stim][:, j], responses[:, j])[0, 1] for j in range(200)])
    assert est is not None
    assert abs(est.mean() - true.mean()) < 0.02
    assert abs(est.mean() - perfect.mean()) < 0.02
    assert oracle_correlation(responses, stim).mean() < est.mean() - 0.05


def test_oracle_is_not_called_a_ceiling(static_recording, tmp_path):
    truth = make_truth("sensorium", [static_recording])
    mouse = truth.mice[0]
    preds = {p: _static_preds(truth, t) for p, t in truth_tiers("sensorium")}
    report = score("sensorium", static_recording, preds)
    s = report.phases["live"].metrics["single_trial_correlation"]
    # 4 repeated images: too few for a reliable estimate, so none is shown (test_user_trial.py
    # covers a tier with enough)
    assert s.ceiling is None and estimated_ceiling(mouse.tiers["test"]) is not None
    table = report.table()
    assert "not a ceiling" in table and "estimate" in table


@pytest.fixture(scope="module")
def tiny_static(tmp_path_factory):
    (sim,) = simulate_static(tmp_path_factory.mktemp("tiny"), preset="tiny", seed=0)
    return sim


def test_images_only_track_gets_the_images_only_exact_ceiling(tiny_static):
    truth = make_truth("sensorium", [tiny_static.path])
    t = truth.mice[0].tiers["test"]
    assert t.rates_stimulus_only is not None
    preds = {
        p: StaticPredictions(
            tr.trial_ids, tr.stimulus_ids, truth.mice[0].unit_ids, tr.rates_stimulus_only
        )
        for p, tr in ((p, truth.mice[0].tiers[t]) for p, t in truth_tiers("sensorium"))
    }
    report = score("sensorium", truth, preds)
    s = report.phases["live"].metrics["single_trial_correlation"]
    assert s.ceiling_kind == "exact"
    assert s.normalized_stimulus_only == pytest.approx(1.0)
    assert s.ceiling_stimulus_only < s.ceiling
    assert "images only" in report.table()
    data = report.to_dict()["phases"]["live"]["metrics"]["single_trial_correlation"]
    assert data["ceiling_stimulus_only"] == pytest.approx(s.ceiling_stimulus_only)
    # sensorium+ sees behaviour: no images-only ceiling there
    plus = make_truth("sensorium+", [tiny_static.path])
    plus_report = score("sensorium+", plus, preds)
    plus_live = plus_report.phases["live"].metrics["single_trial_correlation"]
    assert plus_live.ceiling_stimulus_only is None


def test_simulator_truth_folder_is_accepted_as_truth(tiny_static, tmp_path):
    truth = make_truth("sensorium", [tiny_static.path])
    preds = {p: _static_preds(truth, t) for p, t in truth_tiers("sensorium")}
    write_submission("sensorium", tmp_path / "sub", preds)
    a = score("sensorium", tiny_static.truth, tmp_path / "sub").to_dict()
    b = score("sensorium", tiny_static.path, tmp_path / "sub").to_dict()
    assert a == b
    lonely = tmp_path / "static1-1-1-GrayImageNet-x.truth"
    lonely.mkdir()
    with pytest.raises(TruthError, match="not beside it"):
        score("sensorium", lonely, tmp_path / "sub")


def test_correlation_to_average_without_repeats_says_why(video_recordings, tmp_path):
    truth = make_truth("video-bonus", video_recordings)
    preds = {p: _video_preds(truth, t) for p, t in truth_tiers("video-bonus")}
    report = score("video-bonus", video_recordings, preds)
    c = report.phases["live"].metrics["correlation_to_average"]
    assert c.note is not None and "shown more than once" in c.note
    table = report.table()
    assert "nan" not in table.lower().replace("n/a", "")
    assert "shown more than once" in table
    data = report.to_dict()["phases"]["live"]["metrics"]["correlation_to_average"]
    assert data["value"] is None and "shown more than once" in data["note"]


def test_every_number_in_a_report_is_finite_or_explained(static_recording, video_recordings):
    static = make_truth("sensorium", [static_recording])
    video = make_truth("video-bonus", video_recordings)
    reports = [
        score("sensorium", static, _both(static, "sensorium", _static_preds)),
        score("video-bonus", video, _both(video, "video-bonus", _video_preds)),
    ]
    for report in reports:
        for ps in report.phases.values():
            for ms in ps.metrics.values():
                for x in (ms.value, ms.ceiling, ms.normalized):
                    assert x is None or np.isfinite(x) or ms.note, (ms.name, x)


def test_feve_ceiling_above_one_is_explained(static_recording):
    truth = make_truth("sensorium", [static_recording])
    t = truth.mice[0].tiers["test"]
    t.rates = t.responses.copy()  # a "noiseless" rate equal to the responses: FEVE > 1
    f = truth.mice[0].tiers["final_test"]
    f.rates = f.responses.copy()
    report = score("sensorium", truth, _both(truth, "sensorium", _static_preds))
    feve = report.phases["live"].metrics["feve"]
    assert feve.ceiling > 1 and "exceeds 1" in (feve.note or "")


# ---------------------------------------------------------------- 23 §4: one answer
def test_missing_trial_and_nan_are_reported_together(static_recording, tmp_path):
    truth = make_truth("sensorium", [static_recording])
    lines = static_csv_bytes(_static_preds(truth, "test")).decode().splitlines()
    del lines[5]  # a missing trial
    parts = lines[2].split('"')
    parts[1] = "[nan," + parts[1].split(",", 1)[1]
    lines[2] = '"'.join(parts)
    (tmp_path / LIVE_CSV).write_text("\n".join(lines) + "\n")
    with pytest.raises(SubmissionError) as exc:
        score("sensorium", static_recording, tmp_path / LIVE_CSV)
    text = str(exc.value)
    assert "line 3: 1 prediction(s) are NaN" in text
    assert "1 trial(s) of the tier are missing" in text
    # a value that is not a number does not hide the alignment problems either
    lines[2] = lines[2].replace("[nan,", "[abc,")
    (tmp_path / LIVE_CSV).write_text("\n".join(lines) + "\n")
    with pytest.raises(SubmissionError) as exc:
        score("sensorium", static_recording, tmp_path / LIVE_CSV)
    text = str(exc.value)
    assert "line 3: prediction value 0 ('abc') is not a number" in text
    assert "1 trial(s) of the tier are missing" in text


# ---------------------------------------------------------------- 24: hostile submissions
def _live_csv(static_recording, tmp_path, edit):
    truth = make_truth("sensorium", [static_recording])
    lines = static_csv_bytes(_static_preds(truth, "test")).decode().splitlines()
    lines = edit(lines)
    f = tmp_path / LIVE_CSV
    f.write_bytes(lines if isinstance(lines, bytes) else ("\n".join(lines) + "\n").encode())
    with pytest.raises(SubmissionError) as exc:
        score("sensorium", static_recording, f)
    text = str(exc.value)
    assert "\x1b" not in text and "Traceback" not in text
    return text


def _set_value(lines, row, text):
    parts = lines[row].split('"')
    parts[1] = "[" + text + "," + parts[1].split(",", 1)[1]
    lines[row] = '"'.join(parts)
    return lines


def test_values_overflowing_float32_are_refused(static_recording, tmp_path):
    text = _live_csv(static_recording, tmp_path, lambda ls: _set_value(ls, 1, "1e300"))
    assert "beyond float32's range" in text


def test_python_only_number_syntax_is_refused(static_recording, tmp_path):
    text = _live_csv(static_recording, tmp_path, lambda ls: _set_value(ls, 1, "1_000"))
    assert "'_' or non-ASCII" in text
    text = _live_csv(static_recording, tmp_path, lambda ls: _set_value(ls, 1, "\u0661"))
    assert "'_' or non-ASCII" in text


def test_huge_neuron_id_is_a_clear_error(static_recording, tmp_path):
    text = _live_csv(
        static_recording,
        tmp_path,
        lambda ls: [ln.replace("[11, 12,", "[12345678901234567890123, 12,") for ln in ls],
    )
    assert "out of the int64 range" in text


def test_non_utf8_header_is_a_clear_error(static_recording, tmp_path):
    text = _live_csv(
        static_recording,
        tmp_path,
        lambda ls: (
            b"trial_indices,image\xff_ids,prediction,neuron_ids\n" + "\n".join(ls[1:]).encode()
        ),
    )
    assert "is not UTF-8 text (line 1" in text and len(text.splitlines()) == 1


def test_escape_codes_are_quoted_not_echoed(static_recording, tmp_path):
    def edit(ls):
        ls[1] = "\x1b[2J\x1b[31mEVIL" + ls[1][ls[1].index(",") :]
        return ls

    text = _live_csv(static_recording, tmp_path, edit)
    assert "'\\x1b[2J\\x1b[31mEVIL'" in text
    # the CSV parser's own message echoes the offending row: quoted too, and brief
    text = _live_csv(static_recording, tmp_path, lambda ls: [*ls, "1,2,3,4,\x1b[2J" + "x" * 500])
    assert "not a readable CSV file" in text and "\\x1b" in text and "x" * 200 not in text


def test_links_inside_an_upload_are_not_followed(static_recording, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:SECRET\n")
    (tmp_path / "sub").mkdir()
    os.symlink(secret, tmp_path / "sub" / LIVE_CSV)
    with pytest.raises(SubmissionError) as exc:
        score("sensorium", static_recording, tmp_path / "sub")
    assert "is a link" in str(exc.value) and "SECRET" not in str(exc.value)
    os.symlink(tmp_path / "gone", tmp_path / "broken.csv")
    with pytest.raises(SubmissionError, match="broken link"):
        score("sensorium", static_recording, tmp_path / "broken.csv")


def test_oversized_csv_in_a_folder_is_refused_before_reading(static_recording, tmp_path):
    (tmp_path / "sub").mkdir()
    with open(tmp_path / "sub" / LIVE_CSV, "wb") as f:
        f.truncate(40 << 20)  # sparse: 40 MB of zeros, far beyond 12 trials x 5 neurons
    with pytest.raises(SubmissionError, match="refused before reading"):
        score("sensorium", static_recording, tmp_path / "sub")


def test_zip_holding_a_file_twice_is_refused(video_recordings, tmp_path):
    truth = make_truth("video-main", video_recordings)
    data = video_parquet_bytes(_video_preds(truth, "live_test_main"))
    path = tmp_path / "twice.zip"
    with zipfile.ZipFile(path, "w") as zf, pytest.warns(UserWarning):
        zf.writestr("predictions_live_main.parquet.brotli", data)
        zf.writestr("predictions_live_main.parquet.brotli", data)
    with pytest.raises(SubmissionError, match="appears twice"):
        score("video-main", video_recordings, path)


def test_zero_frame_video_trial_is_refused(video_recordings, tmp_path):
    truth = make_truth("video-main", video_recordings)
    preds = _video_preds(truth, "live_test_main")
    preds.values[1] = preds.values[1][:, :0]
    f = tmp_path / "predictions_live_main.parquet.brotli"
    f.write_bytes(video_parquet_bytes(preds))
    with pytest.raises(SubmissionError, match="row 1: prediction holds 0 frames"):
        score("video-main", video_recordings, f)
    with pytest.raises(SubmissionError, match="has no predicted frames"):
        score("video-main", video_recordings, {"live": preds})


def test_parquet_decompression_bomb_is_refused_before_decoding(video_recordings, tmp_path):
    n = 3_000_000  # zeros compress to a few KB; the tiny tiers need ~5000 values
    inner = pa.LargeListArray.from_arrays(pa.array([0, n]), pa.array(np.zeros(n, np.float32)))
    table = pa.table(
        {
            "mouse": [VIDEO_NAMES[0]],
            "trial_indices": ["1003"],
            "prediction": pa.ListArray.from_arrays(pa.array([0, 1], pa.int32()), inner),
            "neuron_ids": [[1, 2, 3, 4]],
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="brotli")
    assert len(sink.getvalue()) < 100_000
    f = tmp_path / "predictions_live_main.parquet.brotli"
    f.write_bytes(sink.getvalue())
    with pytest.raises(SubmissionError, match="refused before decoding"):
        score("video-main", video_recordings, f)


def test_cli_json_reports_notes(tmp_path, capsys):
    rec = write_static(tmp_path)
    _withhold_final(rec)
    truth = make_truth("sensorium", [rec])
    save_truth(truth, tmp_path / "t.npz")
    (tmp_path / LIVE_CSV).write_bytes(static_csv_bytes(_static_preds(truth, "test")))
    args = ["score", "--track", "sensorium", "--truth", str(tmp_path / "t.npz")]
    assert main([*args, "--submission", str(tmp_path / LIVE_CSV), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert any("withheld" in n for n in data["notes"])


def test_evaluate_scores_the_phases_with_responses(tiny_static, tmp_path):
    from neurotwin.models import recording_infos
    from neurotwin.models.registry import create_model
    from neurotwin.submit import evaluate

    rec = tmp_path / tiny_static.path.name
    shutil.copytree(tiny_static.path, rec)  # without the simulator's truth, like a release
    _withhold_final(rec)
    model = create_model("sensorium-ln", recording_infos(rec))
    report = evaluate(model, rec, "sensorium", cache_dir=tmp_path / "cache", progress=False)
    assert set(report.phases) == {"live"}
    assert any("withheld" in n for n in report.notes)


def test_video_nan_and_missing_trial_are_reported_together(video_recordings, tmp_path):
    truth = make_truth("video-main", video_recordings)
    preds = _video_preds(truth, "live_test_main")
    preds.values[0] = preds.values[0].copy()
    preds.values[0][1, 3] = np.nan
    keep = np.arange(len(preds.values)) != 2
    preds = VideoPredictions(
        preds.mice[keep],
        preds.trial_ids[keep],
        preds.neuron_ids,
        [v for v, k in zip(preds.values, keep, strict=True) if k],
    )
    f = tmp_path / "predictions_live_main.parquet.brotli"
    f.write_bytes(video_parquet_bytes(preds))
    with pytest.raises(SubmissionError) as exc:
        score("video-main", video_recordings, f)
    text = str(exc.value)
    assert "row 0: 1 prediction(s) are NaN" in text
    assert "1 trial(s) of the tier are missing" in text
