import numpy as np
import pytest

from neurotwin.imaging import FitSettings, denoise_movie, open_movie
from neurotwin.imaging.metrics import local_correlation, snr_gain_map, truth_metrics
from neurotwin.imaging.report import render_denoise_report
from neurotwin.imaging.simulate import simulate_movie, write_simulated_movie


@pytest.fixture(scope="module")
def sim():
    return simulate_movie(frames=200, height=32, width=32, neurons=6, snr=2.0, seed=4)


def test_simulated_movie_has_the_stated_snr_and_its_truth(sim, tmp_path):
    mask = sim.footprints.max(axis=0) > 0.5
    signal_sd = sim.signal[:, mask].std(axis=0)
    noise_sd = (sim.movie - sim.signal)[:, mask].std(axis=0)
    assert np.median(signal_sd / noise_sd) == pytest.approx(2.0, rel=0.1)
    assert sim.spikes.sum() > 0 and sim.calcium.shape == (6, 200)
    movie, truth = write_simulated_movie(sim, tmp_path, "h5")
    assert open_movie(movie).shape == (200, 32, 32)
    assert np.load(truth / "signal.npy").shape == (200, 32, 32)
    with pytest.raises(FileExistsError):
        write_simulated_movie(sim, tmp_path, "h5")


def test_local_correlation_and_snr_gain():
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(400, 10, 10)).astype(np.float32)
    assert abs(local_correlation(noise)).max() < 0.2
    shared = rng.normal(size=(400, 1, 1)).astype(np.float32) * np.ones((1, 10, 10), np.float32)
    np.testing.assert_allclose(local_correlation(shared), 1, atol=1e-5)
    truth = shared * 3
    gain = snr_gain_map(truth + noise, truth + noise / 4, truth)
    np.testing.assert_allclose(gain, 4, rtol=1e-4)
    metrics = truth_metrics(truth + noise, truth + noise / 4, truth)
    assert metrics["rmse_denoised"] < metrics["rmse_raw"] and metrics["snr_gain_median"] > 3.9


def test_report_with_truth_and_dask_client(sim):
    # A dask array of the movie, blocks as tasks on a cluster reached by its address.
    distributed = pytest.importorskip("distributed")
    dask_array = pytest.importorskip("dask.array")
    movie = dask_array.from_array(sim.movie, chunks=(50, 32, 32))
    assert open_movie(movie).format == "dask"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:  # fmt: skip
        result = denoise_movie(movie, block=(16, 16), settings=FitSettings(method="svd"),
                               client=cluster.scheduler_address)  # fmt: skip
    local = denoise_movie(sim.movie, block=(16, 16), settings=FitSettings(method="svd"))
    np.testing.assert_array_equal(result.ranks, local.ranks)
    np.testing.assert_allclose(result.reconstruct(), local.reconstruct(), rtol=1e-5, atol=1e-3)
    page = render_denoise_report(open_movie(sim.movie), result, sim.signal)
    assert page.count("data:image/png;base64,") == 3 and "rmse denoised" in page


def test_scheduler_option_and_its_old_name():
    from neurotwin.cli import build_parser

    parser = build_parser()
    for flag in ("--scheduler", "--dask"):
        args = parser.parse_args(["denoise", "m.npy", "--out", "o", flag, "tcp://h:8786"])
        assert args.scheduler == "tcp://h:8786"


def test_a_movie_much_shorter_than_the_rate_smoothing_simulates():
    # 40 frames against a smoothing of one second (30 frames): the slow modulation's
    # scaling blew up and numpy's Poisson refused ("lam value too large")
    small = simulate_movie(frames=40, height=16, width=16, seed=0)
    assert np.isfinite(small.movie).all() and small.movie.shape == (40, 16, 16)


def test_streamed_movie_is_written_in_chunks_with_its_truth(tmp_path):
    from neurotwin.imaging.simulate import write_streamed_movie

    sim = write_streamed_movie(
        tmp_path / "s.npy", frames=450, height=24, width=20, neurons=5, snr=2.0, chunk=100, seed=3
    )
    movie = open_movie(sim.path)
    assert movie.shape == (450, 24, 20) and movie.dtype == np.float32
    assert np.array_equal(np.load(sim.path), movie.read(0, 450))  # a valid .npy file
    frames, truth = movie.read(0, 450), sim.signal(0, 450)
    residual = frames - truth  # Poisson (variance = signal) plus Gaussian read noise
    assert abs(residual.mean()) < 0.05
    expected = truth.mean() + sim.config.read_noise**2
    assert residual.var() == pytest.approx(expected, rel=0.05)
    sd = truth[:100, sim.mask].std(axis=0) / residual[:100, sim.mask].std(axis=0)
    assert np.median(sd) == pytest.approx(2.0, rel=0.15)  # the gain is solved on chunk one
    assert not list(tmp_path.glob(".*"))  # no temporary file left


def test_simulated_movie_settings_are_checked_before_any_work():
    from neurotwin.imaging.config import MovieConfig
    from neurotwin.imaging.errors import MovieError

    with pytest.raises(MovieError, match=r"frames=0 \(at least 1\); fps=0 \(above 0\)"):
        MovieConfig(frames=0, fps=0)
    with pytest.raises(MovieError, match=r"snr=-1.0 \(above 0\)"):
        simulate_movie(snr=-1.0)
    with pytest.raises(MovieError, match=r"needs about \d+ GiB in memory"):
        simulate_movie(frames=10, height=1_000_000, width=1_000_000)
    short = simulate_movie(frames=10, height=16, width=16)  # negative photon rates before
    assert np.isfinite(short.movie).all() and (short.signal >= 0).all()
