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


from neurotwin.scoring.metrics import (  # noqa: E402
    correlation_to_average,
    explainable_variance,
    feve,
    group_means,
    mean_over_neurons,
    oracle_correlation,
    scored_frames,
    single_trial_correlation,
    video_correlation,
    video_correlation_to_average,
    video_oracle_correlation,
)


def _pearson(a, b):
    a = np.asarray(a, float) - np.mean(a)
    b = np.asarray(b, float) - np.mean(b)
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def test_single_trial_correlation_is_per_neuron():
    pred = np.array([[1.0, 0.0], [2.0, 1.0], [4.0, 0.0]])
    resp = np.array([[1.0, 5.0], [3.0, 5.0], [4.0, 5.0]])
    out = single_trial_correlation(pred, resp)
    np.testing.assert_allclose(out, [_pearson([1, 2, 4], [1, 3, 4]), 0.0], atol=1e-7)
    assert mean_over_neurons(out) == pytest.approx(out.mean())
    assert mean_over_neurons(out, np.array([False, True])) == 0.0
    assert np.isnan(mean_over_neurons(out, np.array([False, False])))


def test_group_means_and_correlation_to_average():
    ids = np.array([7, 3, 7, 3, 5, 5])
    resp = np.array([[1.0], [2.0], [3.0], [6.0], [0.0], [1.0]])
    pred = np.array([[0.0], [1.0], [1.0], [0.0], [5.0], [5.0]])
    means, counts = group_means(resp, ids)  # sorted ids 3, 5, 7
    np.testing.assert_allclose(means[:, 0], [4.0, 0.5, 2.0])
    np.testing.assert_array_equal(counts, [2, 2, 2])
    expected = _pearson([0.5, 5.0, 0.5], [4.0, 0.5, 2.0])
    np.testing.assert_allclose(correlation_to_average(pred, resp, ids), [expected], atol=1e-7)


def test_feve_hand_computed_with_constant_and_low_fev_neurons():
    ids = np.array([0, 0, 1, 1])
    # neuron 0: total var 20/3, noise var 2 -> FEV 0.7; prediction = image means -> FEVE 1
    # neuron 1: constant -> FEV undefined (NaN), excluded
    # neuron 2: total var 10/3, noise var 5 -> FEV -0.5, excluded
    resp = np.array([[1.0, 4.0, 1.0], [3.0, 4.0, 5.0], [5.0, 4.0, 2.0], [7.0, 4.0, 4.0]])
    pred = np.array([[2.0, 4.0, 3.0], [2.0, 4.0, 3.0], [6.0, 4.0, 3.0], [6.0, 4.0, 3.0]])
    fev = explainable_variance(resp, ids)
    np.testing.assert_allclose(fev[[0, 2]], [0.7, -0.5])
    assert np.isnan(fev[1])
    # neuron 0: every error is 1 -> pred_var 1 -> FEVE = 1 - (1 - 2) / (20/3 - 2) = 1 + 3/14
    values, selected = feve(pred, resp, ids)
    np.testing.assert_array_equal(selected, [True, False, False])
    assert values[0] == pytest.approx(1.0 + 3.0 / 14.0)
    assert mean_over_neurons(values, selected) == pytest.approx(1.0 + 3.0 / 14.0)
    # predicting [1, 1, 5, 5]: errors 0, 2, 0, 2 -> pred_var 2 = noise var -> FEVE exactly 1
    values2, _ = feve(pred - np.array([1.0, 0.0, 0.0]), resp, ids)
    assert values2[0] == pytest.approx(1.0)


def test_fev_single_repeats_and_no_repeats():
    resp = np.array([[1.0], [3.0], [5.0], [7.0]])
    # image 1 and 2 shown once: their variance is undefined and left out of the noise mean
    np.testing.assert_allclose(explainable_variance(resp, np.array([0, 0, 1, 2])), [0.7])
    assert np.isnan(explainable_variance(resp, np.array([0, 1, 2, 3]))[0])
    _, selected = feve(resp, resp, np.array([0, 1, 2, 3]))
    assert not selected.any()


def test_oracle_correlation_leave_one_out_ignores_single_repeats():
    ids = np.array([0, 0, 0, 1, 1, 9])
    resp = np.array([[1.0], [2.0], [3.0], [10.0], [14.0], [100.0]])
    expected = _pearson([1, 2, 3, 10, 14], [2.5, 2.0, 1.5, 14.0, 10.0])
    np.testing.assert_allclose(oracle_correlation(resp, ids), [expected], atol=1e-7)
    assert oracle_correlation(resp, np.arange(6))[0] == 0.0


def test_nan_responses_give_zero_correlation():
    resp = np.array([[1.0], [np.nan], [3.0]])
    assert single_trial_correlation(resp, resp)[0] == 0.0


def test_scored_frames_drop_first_50_and_past_300():
    np.testing.assert_array_equal(scored_frames([40, 50, 200, 300, 350]), [0, 0, 150, 250, 250])


def test_video_correlation_concatenates_scored_frames():
    rng = np.random.default_rng(0)
    resp = rng.normal(size=(3, 2, 5))
    pred = rng.normal(size=(3, 2, 5))
    n_frames = np.array([5, 2, 4])
    pred_junk = pred.copy()
    pred_junk[1, :, 2:] = 1e6  # beyond the trial's scored frames: ignored
    out = video_correlation(pred_junk, resp, n_frames)
    for n in range(2):
        a = np.concatenate([pred[k, n, : n_frames[k]] for k in range(3)])
        b = np.concatenate([resp[k, n, : n_frames[k]] for k in range(3)])
        assert out[n] == pytest.approx(_pearson(a, b), abs=1e-7)
    # a constant prediction counts 0
    assert video_correlation(np.ones_like(resp), resp, n_frames)[0] == 0.0


def test_video_correlation_to_average_and_oracle():
    rng = np.random.default_rng(1)
    resp = rng.normal(size=(5, 1, 4))
    pred = rng.normal(size=(5, 1, 4))
    ids = np.array(["a", "b", "a", "b", "c"])  # c shown once: ignored
    n_frames = np.array([4, 3, 3, 4, 4])
    ca = _pearson(pred[[0, 2], 0, :3].mean(0), resp[[0, 2], 0, :3].mean(0))
    cb = _pearson(pred[[1, 3], 0, :3].mean(0), resp[[1, 3], 0, :3].mean(0))
    out = video_correlation_to_average(pred, resp, n_frames, ids)
    assert out[0] == pytest.approx((ca + cb) / 2, abs=1e-7)
    own = np.concatenate([resp[k, 0, :3] for k in (0, 2, 1, 3)])
    other = np.concatenate([resp[k, 0, :3] for k in (2, 0, 3, 1)])
    assert video_oracle_correlation(resp, n_frames, ids)[0] == pytest.approx(
        _pearson(own, other), abs=1e-7
    )
    assert np.isnan(video_correlation_to_average(pred, resp, n_frames, np.arange(5))[0])
