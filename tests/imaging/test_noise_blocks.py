import numpy as np
import pytest

from neurotwin.imaging.blocks import blend_weights, make_blocks
from neurotwin.imaging.noise import noise_sd


def test_noise_estimator_on_white_noise_of_known_variance():
    rng = np.random.default_rng(0)
    sd = noise_sd(rng.normal(5.0, 3.0, size=(400, 2000)))
    assert abs(sd.mean() / 3.0 - 1) < 0.01
    assert sd.std() / 3.0 < 0.05


def test_noise_estimator_ignores_slow_signal_and_short_series():
    rng = np.random.default_rng(1)
    t = np.arange(1000)
    slow = 20 * np.sin(2 * np.pi * t / 300) + np.cumsum(rng.normal(0, 0.05, 1000))
    sd = noise_sd(slow + rng.normal(0, 2.0, size=(200, 1000)))
    assert abs(np.median(sd) / 2.0 - 1) < 0.03
    short = noise_sd(rng.normal(0, 2.0, size=(200, 100)))  # one Welch segment
    assert abs(np.median(short) / 2.0 - 1) < 0.05
    with pytest.raises(ValueError, match="needs 64"):
        noise_sd(np.zeros((2, 10)))


@pytest.mark.parametrize("hw", [(64, 64), (50, 37), (16, 16)])
def test_four_tilings_with_weights_summing_to_one(hw):
    blocks = make_blocks(*hw, (16, 16))
    assert {b.tiling for b in blocks} == {0, 1, 2, 3}
    total = np.zeros(hw)
    for b, w in zip(blocks, blend_weights(*hw, blocks), strict=True):
        assert w.shape == (b.height, b.width) and (w > 0).all()
        total[b.slices] += w
    np.testing.assert_allclose(total, 1, atol=1e-6)
    starts = {(b.row, b.col) for b in blocks if b.tiling == 3}
    assert (8, 8) in starts  # diagonal half-block offset
