import numpy as np
import pytest
import torch

from neurotwin.data import (
    Interleaved,
    RecordingError,
    open_recording,
    static_loaders,
    video_loaders,
)
from neurotwin.data.normalize import response_scale
from tiny import write_static, write_video


def test_static_loaders_shapes_tiers_and_normalisation(static_path, tmp_path):
    loaders = static_loaders(
        static_path,
        batch_size=5,
        scale=0.5,
        include_behavior=True,
        include_eye_position=True,
        cache_dir=tmp_path / "c",
        progress=False,
    )
    assert list(loaders) == ["train", "validation", "test", "final_test"]
    assert list(loaders["train"]) == ["11-2-3"]
    batches = list(loaders["validation"]["11-2-3"])
    assert [len(b["index"]) for b in batches] == [4]
    batch = batches[0]
    assert batch["images"].shape == (4, 1, 8, 12) and batch["images"].dtype == torch.float32
    assert batch["responses"].shape == (4, 7)
    assert batch["behavior"].shape == (4, 3) and batch["pupil_center"].shape == (4, 2)

    rec = open_recording(static_path)
    i = int(batch["index"][1])
    assert rec.tiers[i] == "validation"
    raw = rec.load("responses", i)
    expected = raw / response_scale(rec.statistics("responses"))
    np.testing.assert_allclose(batch["responses"][1].numpy(), expected, rtol=1e-5)
    behavior = rec.load("behavior", i) / rec.statistics("behavior")["std"]
    np.testing.assert_allclose(batch["behavior"][1].numpy(), behavior, rtol=1e-5)
    pupil = rec.statistics("pupil_center")
    expected_pupil = (rec.load("pupil_center", i) - pupil["mean"]) / pupil["std"]
    np.testing.assert_allclose(batch["pupil_center"][1].numpy(), expected_pupil, rtol=1e-5)
    # images: per-batch mean and std match the scalar statistics' affine map
    stats = rec.statistics("images")
    raw_images = batch["images"].numpy() * stats["std"] + stats["mean"]
    assert raw_images.min() >= -1e-3 and raw_images.max() <= 255 + 1e-3


def test_train_tier_is_shuffled_reproducibly_and_covers_every_trial(static_path):
    def order(seed):
        loader = static_loaders(static_path, 5, seed=seed, progress=False)["train"]["11-2-3"]
        return [b["index"].tolist() for b in loader]

    first, again, other = order(0), order(0), order(1)
    assert first == again and first != other
    assert sorted(i for batch in first for i in batch) == list(range(12))
    assert [len(b) for b in first] == [5, 5, 2]


def test_workers_give_the_same_batches(static_path):
    plain = static_loaders(static_path, 4, tiers=["test"], progress=False)["test"]["11-2-3"]
    workers = static_loaders(static_path, 4, tiers=["test"], num_workers=2, progress=False)
    with_workers = list(workers["test"]["11-2-3"])
    for a, b in zip(plain, with_workers, strict=True):
        torch.testing.assert_close(a["images"], b["images"])
        torch.testing.assert_close(a["responses"], b["responses"])


def test_withheld_tiers_yield_no_responses(tmp_path):
    path = write_static(tmp_path / "rec", withheld=True, hashed_ids=True)
    loaders = static_loaders(path, 8, progress=False)
    assert "responses" not in next(iter(loaders["test"]["11-2-3"]))
    assert "responses" in next(iter(loaders["train"]["11-2-3"]))


def test_bad_requests_are_named(tmp_path, static_path, video_path):
    with pytest.raises(RecordingError, match="is a static recording; use static_loaders"):
        video_loaders(static_path, 2, progress=False)
    with pytest.raises(RecordingError, match="is a video recording; use video_loaders"):
        static_loaders(video_path, 2, progress=False)
    with pytest.raises(RecordingError, match="unknown tier 'oracle'"):
        static_loaders(static_path, 2, tiers=["oracle"], progress=False)
    with pytest.raises(ValueError, match="share the key"):
        static_loaders([static_path, write_static(tmp_path / "copy")], 2, progress=False)
    path = write_static(tmp_path / "nobehavior")
    import shutil

    shutil.rmtree(path / "data/behavior")
    with pytest.raises(RecordingError, match="has no behavior folder"):
        static_loaders(path, 2, include_behavior=True, progress=False)


def test_video_training_clips_lie_inside_each_trial(video_path):
    torch.manual_seed(0)
    loaders = video_loaders(video_path, 3, frames=9, include_behavior=True, progress=False)
    train = loaders["train"]["11-2-3"]
    assert len(train.dataset) == 4  # trials 0..3 all have at least 9 frames
    rec = open_recording(video_path)
    stats = rec.statistics("responses")
    starts = set()
    for _ in range(5):
        for batch in train:
            assert batch["videos"].shape[1:] == (1, 9, 6, 8)
            assert batch["responses"].shape[1:] == (9, 5)
            assert batch["behavior"].shape[1:] == (2, 9)  # channels first, as the models read
            for j, i in enumerate(batch["index"].tolist()):
                start = int(batch["start"][j])
                assert 0 <= start <= rec.lengths[i] - 9
                starts.add(start)
                raw = rec.load("responses", i)[:, start : start + 9].T
                expected = raw / response_scale(stats)
                np.testing.assert_allclose(batch["responses"][j].numpy(), expected, rtol=1e-5)
    assert len(starts) > 1
    with pytest.warns(UserWarning):
        short = video_loaders(video_path, 3, frames=11, progress=False)["train"]["11-2-3"]
    assert len(short.dataset) == 2  # only trials of 12 frames fit a clip of 11


def test_video_evaluation_yields_whole_padded_trials(video_path):
    loaders = video_loaders(video_path, 4, frames=4, progress=False)
    (batch,) = list(loaders["oracle"]["11-2-3"])
    assert batch["videos"].shape == (1, 1, 11, 6, 8)
    assert batch["length"].tolist() == [11]
    cut = video_loaders(video_path, 4, frames=4, max_frames=5, progress=False)
    (batch,) = list(cut["oracle"]["11-2-3"])
    assert batch["videos"].shape[2] == 5 and batch["length"].tolist() == [5]
    assert torch.isfinite(batch["responses"]).all()
    with pytest.warns(UserWarning, match="4 of 4 trials are shorter than 80 frames"):
        too_long = video_loaders(video_path, 4, frames=80, progress=False)
    assert "train" not in too_long and "oracle" in too_long
    with pytest.warns(UserWarning, match="2 of 4 trials are shorter than 11 frames"):
        video_loaders(video_path, 4, frames=11, tiers=["train"], progress=False)


def test_mixed_lengths_are_zero_padded(tmp_path):
    path = write_video(tmp_path / "rec", lengths=(12, 7, 9, 12, 11, 8))
    rec = open_recording(path)
    from neurotwin.data import VideoClips, cache_for

    cache = cache_for(rec, None, tmp_path / "c", progress=False)
    clips = VideoClips(cache, np.array([0, 1, 2]), None, ("videos", "responses"), None, False)
    batch = clips[np.array([0, 1, 2])]
    assert batch["length"].tolist() == [12, 7, 9]
    assert (batch["responses"][1, 7:] == 0).all() and (batch["responses"][1, :7] > 0).any()


def test_interleaved_cycles_shorter_recordings(tmp_path):
    a = write_static(tmp_path / "a", tiers=(12, 2, 2, 2))
    b = write_static(
        tmp_path / "b", name="static99-1-1-GrayImageNet-" + "1" * 32, tiers=(4, 2, 2, 2)
    )
    train = static_loaders([a, b], 4, progress=False)["train"]
    keys = [key for key, _ in Interleaved(train)]
    assert keys == ["11-2-3", "99-1-1"] * 3
    assert len(Interleaved(train)) == 6
