"""2023 uploads under the starting kit's file names, and bonus uploads missing a class."""

import zipfile

import numpy as np
import pytest

from neurotwin.scoring import SubmissionError, make_truth, score
from neurotwin.scoring.submission import VideoPredictions, video_parquet_bytes
from neurotwin.scoring.tracks import get_track


def _predictions(truth, tier, keep=None):
    mice, trials, values, ids = [], [], [], {}
    for mouse in truth.mice:
        t = mouse.tiers[tier]
        ids[mouse.name] = mouse.unit_ids
        for k in range(t.n_trials):
            if keep is not None and not keep(t, k):
                continue
            values.append(np.nan_to_num(t.responses[k, :, : int(t.n_frames[k])], nan=1.0))
            mice.append(mouse.name)
            trials.append(t.trial_ids[k])
    return VideoPredictions(np.array(mice), np.array(trials), ids, values)


def test_the_kit_file_names_are_read_as_their_phase(video_recordings, tmp_path):
    truth = make_truth("video-main", video_recordings)
    live = "predictions_file_live_test_main_main_track.parquet.brotli"
    final = "predictions_file_final_test_main_main_track.parquet.brotli"
    assert get_track("video-main").phase_of_file(live) == "live"
    assert get_track("video-bonus").phase_of_file(
        "predictions_file_final_test_ood_ood_track.parquet.brotli"
    ) == ("final")
    # one file, a folder and a zip of the kit's files all score as the upload names do
    data = {
        live: video_parquet_bytes(_predictions(truth, "live_test_main")),
        final: video_parquet_bytes(_predictions(truth, "final_test_main")),
    }
    (tmp_path / live).write_bytes(data[live])
    single = score("video-main", truth, tmp_path / live)
    assert set(single.phases) == {"live"}
    folder = tmp_path / "kit"
    folder.mkdir()
    for name, content in data.items():
        (folder / name).write_bytes(content)
    zipped = tmp_path / "kit.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        for name, content in data.items():
            zf.writestr(name, content)
    for upload in (folder, zipped):
        report = score("video-main", truth, upload)
        assert set(report.phases) == {"live", "final"}
        value = report.phases["live"].metrics["single_trial_correlation"].value
        assert value == pytest.approx(
            single.phases["live"].metrics["single_trial_correlation"].value
        )
    # the kit's name and the upload name of one phase together: which one is meant?
    with zipfile.ZipFile(zipped, "a") as zf:
        zf.writestr("predictions_live_main.parquet.brotli", data[live])
    with pytest.raises(SubmissionError, match="live phase's predictions again"):
        score("video-main", truth, zipped)


def test_a_bonus_upload_missing_a_class_names_the_class(video_recordings, tmp_path):
    truth = make_truth("video-bonus", video_recordings)
    # every mouse's live bonus tier holds one 'gabor' and one 'noise' trial; drop 'gabor'
    pred = _predictions(truth, "live_test_bonus", keep=lambda t, k: t.ood_class[k] != "gabor")
    path = tmp_path / "predictions_live_test_bonus_ood.parquet.brotli"
    path.write_bytes(video_parquet_bytes(pred))
    with pytest.raises(SubmissionError, match="no trial of stimulus class 'gabor' is predicted"):
        score("video-bonus", truth, path)


def test_a_kit_named_file_of_the_other_track_names_this_tracks_kit_names_too(tmp_path):
    from neurotwin.scoring.upload import open_upload_files

    bonus = tmp_path / "predictions_file_live_test_bonus_ood_track.parquet.brotli"
    bonus.write_bytes(b"x")
    with pytest.raises(SubmissionError) as caught:
        open_upload_files(bonus, get_track("video-main"), 1 << 20)
    message = str(caught.value)
    assert "video-bonus" in message and "not of track video-main" in message
    assert "predictions_file_live_test_main_main_track.parquet.brotli" in message
