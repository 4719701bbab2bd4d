import numpy as np
import pytest

from neurotwin.scoring.metrics import correlation


def test_correlation_matches_hand_computed_values():
    x = np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 1.0]])
    y = np.array([[2.0, 1.0], [4.0, 1.0], [6.0, 1.0]])
    # column 0: perfectly linear -> 1 (up to eps); column 1: y constant -> 0, not NaN
    np.testing.assert_allclose(correlation(x, y), [1.0, 0.0], atol=1e-7)
    # anti-correlated
    np.testing.assert_allclose(correlation(x[:, 0], -x[:, 0]), -1.0, atol=1e-7)


def test_correlation_nan_counts_as_zero_and_shapes_must_match():
    x = np.array([[1.0], [np.nan], [3.0]])
    assert correlation(x, x)[0] == 0.0
    with pytest.raises(ValueError, match="shapes differ"):
        correlation(np.zeros((3, 2)), np.zeros((3, 3)))
