import numpy as np
import pytest

from movies import low_rank_movie as _low_rank
from neurotwin.imaging.denoise import denoise_movie
from neurotwin.imaging.factorize import FitSettings


def _noise_movie():
    return np.random.default_rng(3).normal(50, 2, size=(200, 32, 32)).astype(np.float32)


def test_no_component_kept_on_pure_noise_pmd():
    result = denoise_movie(_noise_movie(), block=(16, 16), settings=FitSettings(method="pmd"))
    assert result.ranks.sum() == 0
    np.testing.assert_allclose(result.reconstruct(0, 5), np.broadcast_to(result.mean, (5, 32, 32)))


def test_no_component_kept_on_pure_noise_svd():
    # At the 5th percentile a block of noise keeps a component in about 1 % of cases in the
    # svd mode (4 of 400 measured), so svd's default is the 1st percentile: none, like pmd.
    default = FitSettings(method="svd")
    assert default.threshold_percentile == 1.0
    assert denoise_movie(_noise_movie(), block=(16, 16), settings=default).ranks.sum() == 0
    loose = FitSettings(method="svd", percentile=5.0)
    assert denoise_movie(_noise_movie(), block=(16, 16), settings=loose).ranks.sum() <= 2


@pytest.mark.parametrize("method", ["pmd", "svd"])
def test_known_low_rank_movie_is_recovered(method):
    signal, noisy = _low_rank()
    result = denoise_movie(noisy, block=(16, 16), settings=FitSettings(method=method))
    denoised = result.reconstruct()
    centred = signal - signal.mean(axis=0)
    raw_error = np.linalg.norm(noisy - signal) / np.linalg.norm(centred)
    error = np.linalg.norm(denoised - signal) / np.linalg.norm(centred)
    # Stated error: the relative error of the denoised movie is below 0.35 (raw: about 2).
    assert raw_error > 1.5
    assert error < 0.35
    assert 0 < result.ranks.max() <= 4 + 1
    assert result.compression_ratio > 5


def test_the_gpu_code_path_runs_on_the_cpu(monkeypatch):
    # CUDA is not available here: the torch code that runs on a GPU (trend filter by a dense
    # inverse instead of LAPACK's banded solver) is run on the CPU and must agree.
    import neurotwin.imaging.penalties as penalties
    from neurotwin.imaging.factorize import fit_blocks

    _, noisy = _low_rank(frames=200)
    centred = (noisy - noisy.mean(axis=0)).reshape(200, 2, 16, 2, 16)
    blocks = centred.transpose(1, 3, 2, 4, 0).reshape(4, 256, 200)[:2]
    settings = FitSettings(method="pmd", max_components=1)
    banded = fit_blocks(blocks, (16, 16), settings, (np.inf, np.inf))
    monkeypatch.setattr(penalties, "banded_on", lambda device: False)
    dense = fit_blocks(blocks, (16, 16), settings, (np.inf, np.inf))
    for a, b in zip(banded, dense, strict=True):
        assert a.spatial.shape == b.spatial.shape == (256, 1)
        np.testing.assert_allclose(np.abs(a.spatial.T @ b.spatial).diagonal(), 1, atol=1e-3)
