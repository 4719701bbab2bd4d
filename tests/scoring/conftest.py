import numpy as np
import pytest

from neurotwin.data import RecordingWriter

STATIC_NAME = "static11111-1-1-GrayImageNet-" + "a" * 32
VIDEO_NAMES = ("dynamic22222-2-2-Video-" + "b" * 32, "dynamic33333-3-3-Video-" + "c" * 32)


def write_static(dest, seed=0, withheld=False):
    rng = np.random.default_rng(seed)
    tiers = ["train"] * 20 + ["test"] * 12 + ["final_test"] * 12
    images = np.r_[np.arange(20) + 100, np.repeat([1, 2, 3, 4], 3), np.repeat([5, 6, 7, 8], 3)]
    n = len(tiers)
    signal = rng.gamma(2.0, 1.0, size=(200, 5))
    resp = signal[images % 200] + rng.gamma(1.0, 0.5, size=(n, 5))
    resp[:, 4] *= 0.001  # a nearly silent neuron: its std hits the 1% floor? (checked below)
    if withheld:
        resp[20:] = 0.0
    with RecordingWriter(dest, STATIC_NAME, "static", tiers=tiers) as w:
        for i in range(n):
            w.write_trial(
                i, images=rng.random((1, 4, 8)).astype(np.float32), responses=resp[i].astype("f4")
            )
        w.write_neurons(unit_ids=np.array([11, 12, 13, 14, 15]))
        order = rng.permutation(n)
        w.write_trial_info(frame_image_id=images, trial_idx=order)
    return dest / STATIC_NAME


def write_video(dest, name, seed=0, truth=True):
    rng = np.random.default_rng(seed)
    tiers = (
        ["train"] * 3
        + ["live_test_main"] * 4
        + ["final_test_main"] * 3
        + ["live_test_bonus"] * 2
        + ["final_test_bonus"] * 2
    )
    n, n_neurons, pad = len(tiers), 4, 330
    lengths = np.array([80, 70, 90, 75, 75, 320, 320, 60, 85, 70, 75, 75, 80, 80])
    video_ids = np.array([0, 1, 2, 10, 11, 12, 12, 13, 14, 15, 16, 17, 18, 19])
    video_ids[3:7] = [10, 10, 12, 12]
    lengths[3:5] = [75, 75]
    rates = np.full((n, n_neurons, pad), np.nan, np.float32)
    noisy = np.full((n, n_neurons, pad), np.nan, np.float32)
    base = {v: rng.gamma(2.0, 1.0, size=(n_neurons, pad)) for v in np.unique(video_ids)}
    for i in range(n):
        t = lengths[i]
        rates[i, :, :t] = base[video_ids[i]][:, :t]
        noisy[i, :, :t] = rates[i, :, :t] + rng.gamma(1.0, 0.5, size=(n_neurons, t))
    recorded = noisy.copy()
    if truth:
        recorded[3:, :, :] = np.where(np.isnan(recorded[3:]), np.nan, 0.0)  # withheld
    with RecordingWriter(dest, name, "video", tiers=tiers, pad_frames=pad) as w:
        for i in range(n):
            t = lengths[i]
            w.write_trial(
                i,
                videos=rng.random((3, 4, t)).astype(np.float32),
                responses=recorded[i, :, :t],
            )
        w.write_neurons(unit_ids=np.array([1, 2, 3, 4]) + seed * 10)
        ood = np.array(["natural"] * 10 + ["gabor", "noise", "gabor", "noise"])
        w.write_trial_info(trial_idx=np.arange(n) + 1000, video_id=video_ids, ood_class=ood)
    if truth:
        folder = dest / f"{name}.truth"
        folder.mkdir()
        np.save(folder / "rates.npy", rates)
        np.save(folder / "responses.npy", noisy)
        np.save(folder / "tiers.npy", np.array(tiers))
        np.save(folder / "trial_idx.npy", np.arange(n) + 1000)
        np.save(folder / "unit_ids.npy", np.array([1, 2, 3, 4]) + seed * 10)
    return dest / name


@pytest.fixture
def static_recording(tmp_path):
    return write_static(tmp_path)


@pytest.fixture
def video_recordings(tmp_path):
    return [write_video(tmp_path, name, seed=k) for k, name in enumerate(VIDEO_NAMES)]
