import json

import numpy as np
import pytest

from neurotwin.cli import main
from neurotwin.imaging.errors import MovieError
from neurotwin.imaging.simulate import rates_from_recording, simulate_movie
from neurotwin.simulate import simulate_static


def test_simulate_movie_with_the_static_mouse_rates(tmp_path, capsys):
    (rec,) = simulate_static(tmp_path / "mouse", seed=1, neurons=12, train=30, validation=6,
                             test_images=3, test_repeats=2)  # fmt: skip
    out = tmp_path / "movie"
    args = ["simulate", "movie", "--out", str(out), "--frames", "300", "--height", "32",
            "--width", "32", "--neurons", "6", "--rate", "4"]  # fmt: skip
    args += ["--rates-from", str(rec.path)]
    assert main(args) == 0
    meta = json.loads((out / "movie.truth" / "simulation.json").read_text())
    assert meta["rates_from"] == str(rec.path)
    # The spikes follow the mouse's true rates: each image's rate is held for 0.5 s (15 frames).
    rates = rates_from_recording(rec.path, 6, 300, 30.0, 4.0)
    mouse = np.load(rec.truth / "rates.npy")  # (trials, neurons)
    np.testing.assert_allclose(rates[:, :15], np.repeat(mouse[0, :6, None], 15, 1) * rates[0, 0]
                               / mouse[0, 0])  # fmt: skip
    assert rates.mean() == pytest.approx(4.0)
    spikes = np.load(out / "movie.truth" / "spikes.npy")
    per_image = spikes.reshape(6, 20, 15).sum(axis=2)
    expected = rates.reshape(6, 20, 15).sum(axis=2) / 30
    assert np.corrcoef(per_image.ravel(), expected.ravel())[0, 1] > 0.5


def test_video_mouse_rates_are_joined_and_resampled(tmp_path):
    truth = tmp_path / "dynamic1-2-3-Video-x.truth"
    truth.mkdir()
    rates = np.full((2, 3, 6), np.nan, np.float32)
    rates[0, :, :4] = [[1, 2, 3, 4]] * 3
    rates[1, :, :6] = [[5, 6, 7, 8, 9, 10]] * 3
    np.save(truth / "rates.npy", rates)
    np.save(truth / "lengths.npy", np.array([4, 6]))
    (truth / "simulation.json").write_text(json.dumps({"kind": "video", "config": {"fps": 30}}))
    out = rates_from_recording(truth, neurons=4, frames=12, fps=30.0, mean_rate=5.5)
    assert out.mean() == pytest.approx(5.5)
    unit = out[0] / out[0, 0]
    np.testing.assert_allclose(unit[:10], np.arange(1, 11))  # trials end to end, no padding
    np.testing.assert_allclose(unit[10:], [1, 2])  # repeated when shorter than the movie
    np.testing.assert_allclose(out[3], out[0])  # 3 neurons used in turn
    half = rates_from_recording(truth, neurons=1, frames=5, fps=15.0, mean_rate=1.0)
    np.testing.assert_allclose(half[0] / half[0, 0], [1, 3, 5, 7, 9])  # resampled to 15 Hz
    long = rates_from_recording(truth, neurons=4, frames=100, fps=30.0, mean_rate=5.5)
    sim = simulate_movie(frames=100, height=16, width=16, neurons=4, rates=long)
    assert sim.spikes.shape == (4, 100) and sim.spikes.sum() > 0


def test_a_folder_without_rates_is_refused(tmp_path):
    with pytest.raises(MovieError, match="not a simulated recording"):
        rates_from_recording(tmp_path / "nothing", 3, 100, 30.0, 1.0)
    with pytest.raises(ValueError, match="rates of shape"):
        simulate_movie(frames=100, height=16, width=16, neurons=3, rates=np.ones((2, 100)))
