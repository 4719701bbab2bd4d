import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from neurotwin.data import (
    RecordingError,
    RecordingWriter,
    StaticRecording,
    VideoRecording,
    open_recording,
    recording_key,
)
from tiny import STATIC_NAME, VIDEO_NAME, write_static, write_video


def _files(root: Path) -> dict[str, np.ndarray]:
    return {str(p.relative_to(root)): np.load(p) for p in sorted(root.rglob("*.npy"))}


def test_key_from_folder_name():
    assert recording_key("static26872-17-20-GrayImageNet-94c6ff995dac583098847cfecd43e7b6") == (
        "26872-17-20"
    )
    assert recording_key("dynamic29156-11-10-Video-8744edeac3b4d1ce16b680916b5267ce") == (
        "29156-11-10"
    )
    assert recording_key("my_recording") == "my_recording"


def test_static_roundtrip_folder_and_zip_give_identical_arrays(tmp_path):
    folder = write_static(tmp_path / "a", seed=3)
    packed = write_static(tmp_path / "b", seed=3, as_zip=True)
    assert folder.name == STATIC_NAME and packed.name == STATIC_NAME + ".zip"
    on_disk = _files(folder)
    with zipfile.ZipFile(packed) as zf:
        names = sorted(n for n in zf.namelist() if n.endswith(".npy"))
    assert [n.split("/", 1)[1] for n in names] == sorted(on_disk)
    for path in (folder, packed):
        rec = open_recording(path)
        assert isinstance(rec, StaticRecording)
        assert rec.key == "11-2-3" and rec.name == STATIC_NAME
        assert (rec.n_trials, rec.n_neurons, rec.stimulus_hw) == (28, 7, (16, 24))
        assert rec.tier_counts == {"train": 12, "validation": 4, "test": 6, "final_test": 6}
        for i in (0, 5, 27):
            for field, array in rec.trial(i).items():
                expected = on_disk[f"data/{field}/{i}.npy"]
                assert array.dtype == expected.dtype
                np.testing.assert_array_equal(array, expected)
        np.testing.assert_array_equal(rec.unit_ids, on_disk["meta/neurons/unit_ids.npy"])
        assert rec.neurons["area"].dtype.kind == "U"
        np.testing.assert_array_equal(rec.tier_indices("test"), np.arange(16, 22))


def test_writer_statistics_match_numpy_on_train_tier(static_path):
    rec = open_recording(static_path)
    train = rec.tier_indices("train")
    responses = np.stack([rec.load("responses", i) for i in train]).astype(np.float64)
    stats = rec.statistics("responses")
    np.testing.assert_allclose(stats["mean"], responses.mean(0), rtol=1e-5)
    np.testing.assert_allclose(stats["std"], responses.std(0), rtol=1e-4)
    np.testing.assert_allclose(stats["median"], np.median(responses, 0), rtol=1e-5)
    images = np.stack([rec.load("images", i) for i in train]).astype(np.float64)
    assert rec.statistics("images")["mean"].shape == ()
    np.testing.assert_allclose(rec.statistics("images")["std"], images.std(), rtol=1e-4)


@pytest.mark.parametrize("spelling", ["stimulus_frame", "stimulus_Frame"])
def test_stimulus_frame_statistics_either_spelling(tmp_path, spelling):
    path = write_static(tmp_path, stats_subsets=("all", spelling))
    rec = open_recording(path)
    assert rec.statistics("images", "stimulus_frame")["mean"] == pytest.approx(127.0)
    assert rec.statistics("images", "stimulus_Frame")["std"] == pytest.approx(70.0)
    assert (path / f"meta/statistics/images/{spelling}").is_dir()


def test_hashed_trial_ids_are_kept_as_strings(tmp_path):
    rec = open_recording(write_static(tmp_path, hashed_ids=True))
    assert rec.trial_ids.dtype.kind == "U"
    assert all(len(t) == 32 for t in rec.trial_ids)


def test_zip_with_macosx_debris_and_contents_at_root(tmp_path):
    folder = write_static(tmp_path / "src")
    debris = tmp_path / "debris.zip"
    with zipfile.ZipFile(debris, "w") as zf:
        for path in folder.rglob("*.npy"):
            rel = path.relative_to(folder)
            zf.write(path, f"{folder.name}/{rel}")
            zf.writestr(f"__MACOSX/{folder.name}/._{rel}", b"junk")
        zf.writestr(f"{folder.name}/data/images/._0.npy", b"junk")
    rec = open_recording(debris)
    assert rec.name == folder.name and rec.n_trials == 28
    flat = tmp_path / "flat.zip"
    with zipfile.ZipFile(flat, "w") as zf:
        for path in folder.rglob("*.npy"):
            zf.write(path, str(path.relative_to(folder)))
    rec = open_recording(flat)
    assert rec.name == "flat" and rec.n_trials == 28
    np.testing.assert_array_equal(rec.load("images", 3), np.load(folder / "data/images/3.npy"))


def test_object_string_arrays_in_meta_are_read(tmp_path):
    path = write_static(tmp_path)
    tiers = np.load(path / "meta/trials/tiers.npy").astype(object)
    np.save(path / "meta/trials/tiers.npy", tiers, allow_pickle=True)
    rec = open_recording(path)
    assert rec.tier_counts["train"] == 12


def test_video_roundtrip_lengths_and_padding(tmp_path):
    lengths = (12, 10, 9, 12, 11, 8)
    for as_zip in (False, True):
        path = write_video(tmp_path / str(as_zip), lengths=lengths, as_zip=as_zip)
        rec = open_recording(path)
        assert isinstance(rec, VideoRecording)
        assert rec.name == VIDEO_NAME and rec.n_frames == 12
        np.testing.assert_array_equal(rec.lengths, lengths)
        video = rec.load("videos", 2)
        assert video.shape == (6, 8, 12)
        assert np.isnan(video[..., 9:]).all() and np.isfinite(video[..., :9]).all()
        assert rec.load("responses", 5).shape == (5, 12)


def test_writer_is_atomic_and_refuses_to_overwrite(tmp_path):
    tiers = ["train", "train"]
    with pytest.raises(RuntimeError):
        with RecordingWriter(tmp_path, "static1-1-1-x", "static", tiers=tiers) as writer:
            writer.write_trial(0, images=np.zeros((1, 4, 4)), responses=np.ones(3))
            raise RuntimeError("interrupted")
    assert os.listdir(tmp_path) == []
    writer = RecordingWriter(tmp_path, "static1-1-1-x", "static", tiers=tiers)
    writer.write_trial(0, images=np.zeros((1, 4, 4)), responses=np.ones(3))
    writer.write_neurons(unit_ids=np.arange(3))
    with pytest.raises(Exception, match="misses trials"):
        writer.close()
    writer.abort()
    assert os.listdir(tmp_path) == []
    path = write_static(tmp_path)
    with pytest.raises(Exception, match="already exists"):
        write_static(tmp_path)
    assert path.is_dir()


def test_unknown_tier_is_rejected(static_path):
    rec = open_recording(static_path)
    with pytest.raises(RecordingError, match="unknown tier 'oracle'"):
        rec.tier_indices("oracle")
