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
    # Each statistic's threshold is its 5th percentile on noise, so a noise component passes
    # both about 0.3-0.8 % of the time and a block of noise keeps one in about 1-2 % of cases
    # (measured over 400 blocks); 25 blocks may keep one. A 1st-percentile test keeps none.
    default = denoise_movie(_noise_movie(), block=(16, 16), settings=FitSettings(method="svd"))
    assert default.ranks.sum() <= 2 and default.ranks.max() <= 1
    strict = FitSettings(method="svd", percentile=1.0)
    assert denoise_movie(_noise_movie(), block=(16, 16), settings=strict).ranks.sum() == 0


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
