import os

import numpy as np
import pytest
from skimage.transform import resize

from neurotwin.data import RecordingError, cache_for, open_recording
from neurotwin.data import cache as cache_module
from tiny import write_static, write_video


def test_cache_is_built_once_and_reused(static_path, tmp_path):
    rec = open_recording(static_path)
    first = cache_for(rec, (8, 12), tmp_path / "c", progress=False)
    stamp = os.stat(first.path / "images.npy").st_mtime_ns
    again = cache_for(open_recording(static_path), (8, 12), tmp_path / "c", progress=False)
    assert again.path == first.path
    assert os.stat(again.path / "images.npy").st_mtime_ns == stamp
    assert first.array("images").shape == (28, 1, 8, 12)
    assert first.array("responses").shape == (28, 7)
    assert first.array("behavior").shape == (28, 3)
    np.testing.assert_array_equal(first.array("responses")[4], rec.load("responses", 4))


def test_resized_images_match_a_per_image_resize(static_path, tmp_path):
    rec = open_recording(static_path)
    cache = cache_for(rec, (8, 12), tmp_path, progress=False)
    image = rec.load("images", 9).astype(np.float64)
    expected = resize(image, (1, 8, 12), order=1, anti_aliasing=True, preserve_range=True)
    np.testing.assert_allclose(cache.array("images")[9], expected, rtol=1e-5)


def test_cache_is_rebuilt_when_the_source_changes(tmp_path):
    path = write_static(tmp_path / "rec")
    cache = cache_for(open_recording(path), None, tmp_path / "c", progress=False)
    new = np.full(7, 3.0, dtype=np.float32)
    np.save(path / "data/responses/0.npy", new)
    rebuilt = cache_for(open_recording(path), None, tmp_path / "c", progress=False)
    assert rebuilt.path == cache.path
    np.testing.assert_array_equal(rebuilt.array("responses")[0], new)
    assert sorted(os.listdir(tmp_path / "c")) == [cache.path.name]  # no stale leftovers


def test_interrupted_build_leaves_nothing_trusted(tmp_path, monkeypatch):
    path = write_static(tmp_path / "rec")
    calls = {"n": 0}
    real = cache_module.check_trial

    def failing(recording, index):
        calls["n"] += 1
        if calls["n"] > 10:
            raise KeyboardInterrupt
        return real(recording, index)

    monkeypatch.setattr(cache_module, "check_trial", failing)
    with pytest.raises(KeyboardInterrupt):
        cache_for(open_recording(path), None, tmp_path / "c", progress=False)
    assert os.listdir(tmp_path / "c") == []
    monkeypatch.setattr(cache_module, "check_trial", real)
    cache = cache_for(open_recording(path), None, tmp_path / "c", progress=False)
    assert cache.array("images").shape[0] == 28


def test_a_bad_trial_stops_the_build_with_its_file_name(tmp_path):
    path = write_static(tmp_path / "rec")
    np.save(path / "data/pupil_center/13.npy", np.array([np.nan, 1.0]))
    with pytest.raises(RecordingError, match=r"pupil_center/13\.npy: holds NaN"):
        cache_for(open_recording(path), None, tmp_path / "c", progress=False)
    assert os.listdir(tmp_path / "c") == []


def test_video_cache_is_time_major_with_lengths(tmp_path):
    path = write_video(tmp_path / "rec", as_zip=True)
    rec = open_recording(path)
    cache = cache_for(rec, None, tmp_path / "c", progress=False)
    np.testing.assert_array_equal(cache.lengths, [12, 10, 9, 12, 11, 8])
    assert cache.array("videos").shape == (6, 12, 6, 8)
    assert cache.array("responses").shape == (6, 12, 5)
    video = rec.load("videos", 1)
    np.testing.assert_array_equal(
        cache.array("videos")[1, :10], np.moveaxis(video[..., :10], -1, 0)
    )
    np.testing.assert_array_equal(
        cache.array("behavior")[1, :10], rec.load("behavior", 1)[:, :10].T
    )
    assert np.isnan(cache.array("responses")[1, 10:]).all()


def test_withheld_tiers_are_recorded(tmp_path):
    path = write_static(tmp_path / "rec", withheld=True)
    cache = cache_for(open_recording(path), None, tmp_path / "c", progress=False)
    assert cache.withheld_tiers == ("test", "final_test")
