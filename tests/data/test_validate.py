import shutil
import zipfile

import numpy as np
import pytest

from neurotwin.data import RecordingError, open_recording, validate_recording
from tiny import write_static, write_video


def _errors(path):
    return [p for p in validate_recording(path) if p.severity == "error"]


def test_clean_recordings_have_no_problem(static_path, video_path):
    assert validate_recording(static_path) == []
    assert validate_recording(video_path) == []


def test_missing_folders_are_named(tmp_path):
    path = write_static(tmp_path)
    shutil.rmtree(path / "data/responses")
    with pytest.raises(RecordingError, match=r"data/responses: folder is missing"):
        open_recording(path)
    shutil.rmtree(path / "meta")
    assert [str(p) for p in _errors(path)] == [f"{path / 'meta'}: folder is missing"]


def test_trial_counts_that_differ_between_data_folders(tmp_path):
    path = write_static(tmp_path)
    (path / "data/behavior/27.npy").unlink()
    with pytest.raises(RecordingError) as info:
        open_recording(path)
    message = str(info.value)
    assert "data/behavior: holds 27 trials but data/images holds 28" in message


def test_gap_in_trial_numbering(tmp_path):
    path = write_static(tmp_path)
    for field in ("images", "responses", "behavior", "pupil_center"):
        (path / f"data/{field}/5.npy").rename(path / f"data/{field}/99.npy")
    problems = _errors(path)
    assert any("missing 5.npy" in p.message for p in problems)


def test_wrong_shapes_and_response_length_name_the_file(tmp_path):
    path = write_static(tmp_path)
    np.save(path / "data/responses/17.npy", np.ones(6, dtype=np.float32))
    np.save(path / "data/images/3.npy", np.ones((1, 16, 25), dtype=np.float32))
    problems = [str(p) for p in _errors(path)]
    assert f"{path}/data/responses/17.npy: has shape (6,), expected (7,)" in problems[1]
    assert "meta/neurons/unit_ids.npy" in problems[1]
    assert problems[0] == f"{path}/data/images/3.npy: has shape (1, 16, 25), expected (1, 16, 24)"
    rec = open_recording(path)  # structure is fine; the bad trial fails when read
    with pytest.raises(RecordingError, match=r"17\.npy: has shape"):
        rec.load("responses", 17)


def test_metadata_length_mismatch(tmp_path):
    path = write_static(tmp_path)
    np.save(path / "meta/trials/frame_image_id.npy", np.arange(27))
    np.save(path / "meta/neurons/area.npy", np.array(["V1"] * 6))
    problems = [str(p) for p in _errors(path)]
    assert any("frame_image_id.npy: has shape (27,), expected 28 rows" in p for p in problems)
    assert any("area.npy: has shape (6,), expected 7 rows" in p for p in problems)


def test_non_finite_values_and_every_problem_is_listed(tmp_path):
    path = write_static(tmp_path)
    for i in (2, 9):
        bad = np.load(path / f"data/responses/{i}.npy")
        bad[1] = np.nan
        np.save(path / f"data/responses/{i}.npy", bad)
    bad = np.load(path / "data/images/4.npy")
    bad[0, 0, 0] = np.inf
    np.save(path / "data/images/4.npy", bad)
    problems = _errors(path)
    assert sorted(p.where.rsplit("/", 2)[-2:][1] for p in problems) == ["2.npy", "4.npy", "9.npy"]
    assert all("NaN or infinite" in p.message for p in problems)


def test_truncated_npy_is_reported(tmp_path):
    path = write_static(tmp_path)
    target = path / "data/images/6.npy"
    target.write_bytes(target.read_bytes()[:200])
    (problem,) = _errors(path)
    assert problem.where.endswith("data/images/6.npy")
    assert "is truncated" in problem.message


def test_zip_that_is_not_a_recording(tmp_path):
    bogus = tmp_path / "photos.zip"
    with zipfile.ZipFile(bogus, "w") as zf:
        zf.writestr("holiday/beach.jpg", b"\xff\xd8")
    with pytest.raises(RecordingError, match="is not a SENSORIUM recording"):
        open_recording(bogus)
    notzip = tmp_path / "notes.txt"
    notzip.write_text("hello")
    with pytest.raises(RecordingError, match="neither a recording folder nor a zip"):
        open_recording(notzip)
    with pytest.raises(RecordingError, match="does not exist"):
        open_recording(tmp_path / "missing")


def test_video_nan_only_as_trailing_padding(tmp_path):
    path = write_video(tmp_path)
    video = np.load(path / "data/videos/1.npy")  # true length 10
    video[..., 3] = np.nan
    np.save(path / "data/videos/1.npy", video)
    responses = np.load(path / "data/responses/2.npy")  # true length 9
    responses[:, 9:] = 0.0
    np.save(path / "data/responses/2.npy", responses)
    problems = [str(p) for p in _errors(path)]
    assert any(
        "videos/1.npy: has NaN at frame 3 but not in every later frame" in p for p in problems
    )
    assert any("2.npy: fields disagree on the trial's true length" in p for p in problems)


def test_withheld_responses_are_noted(tmp_path):
    path = write_static(tmp_path, withheld=True, hashed_ids=True)
    notes = [p for p in validate_recording(path) if p.severity == "note"]
    assert sorted(n.message.split("'")[1] for n in notes) == ["final_test", "test"]


def test_nothing_is_written_into_the_recording(tmp_path):
    path = write_static(tmp_path / "rec")
    before = sorted(p.relative_to(path) for p in path.rglob("*"))
    from neurotwin.data import static_loaders

    static_loaders(path, 4, cache_dir=tmp_path / "cache", progress=False)
    validate_recording(path)
    assert sorted(p.relative_to(path) for p in path.rglob("*")) == before
