import numpy as np

from neurotwin.data.normalize import collapse_statistics, response_scale


def test_response_scale_floors_tiny_std_at_one_percent_of_mean():
    std = np.array([1.0, 2.0, 0.0, 0.03, 0.0299])
    mean_std = std.mean()  # 0.60598
    floor = 0.01 * mean_std
    np.testing.assert_allclose(response_scale({"std": std}), [1.0, 2.0, floor, 0.03, 0.0299])
    np.testing.assert_allclose(response_scale({"std": np.array([1.0, 0.0])}), [1.0, 0.005])


def test_collapse_time_axis_by_total_variance_is_exact():
    rng = np.random.default_rng(0)
    data = rng.gamma(2.0, 1.0, size=(50, 4, 30))  # trials, neurons, frames
    per_frame_mean, per_frame_std = data.mean(0), data.std(0)
    mean, std = collapse_statistics(per_frame_mean, per_frame_std, 4)
    flat = data.transpose(1, 0, 2).reshape(4, -1)
    np.testing.assert_allclose(mean, flat.mean(1))
    np.testing.assert_allclose(std, flat.std(1))
    scalar_mean, scalar_std = collapse_statistics(per_frame_mean, per_frame_std, None)
    np.testing.assert_allclose(scalar_std, data.std())
    assert scalar_mean.shape == ()


def test_per_feature_statistics_pass_through():
    mean, std = collapse_statistics(np.ones(3), np.full(3, 2.0), 3)
    np.testing.assert_array_equal(mean, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(std, [2.0, 2.0, 2.0])
