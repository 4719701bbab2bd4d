"""Similarity targets: hand computations, weights, sources, and the cache's provenance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neurotwin.neuroreg import NeuroregError
from neurotwin.neuroreg.sources import simulator_predictor, single_trial_responses
from neurotwin.neuroreg.target import (
    average_similarity,
    neuron_weights,
    pixel_target,
    prediction_accuracy,
    reliability,
    shuffled_target,
    similarity_matrix,
    stimulus_hash,
)
from neurotwin.neuroreg.target_cache import cached_target, load_target


def test_similarity_of_a_known_matrix_equals_the_hand_computation() -> None:
    responses = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    weights = np.array([1.0, 2.0])
    # centred: [1/3, -2/3], [-2/3, 1/3], [1/3, 1/3]; weighted: x2 on the second neuron
    # r0 = [1/3, -4/3], r1 = [-2/3, 2/3], r2 = [1/3, 2/3]
    s01 = -10 / np.sqrt(17 * 8)
    s02 = -7 / np.sqrt(17 * 5)
    s12 = 2 / np.sqrt(8 * 5)
    expected = np.array([[1, s01, s02], [s01, 1, s12], [s02, s12, 1]])
    np.testing.assert_allclose(similarity_matrix(responses, weights), expected, atol=1e-12)


def test_average_over_recordings_is_the_mean_of_their_matrices() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.random((5, 4)), rng.random((5, 7))
    got = average_similarity([a, b])
    np.testing.assert_allclose(got, (similarity_matrix(a) + similarity_matrix(b)) / 2)
    with pytest.raises(NeuroregError, match="number of images"):
        average_similarity([a, rng.random((6, 4))])


def test_reliability_and_accuracy_by_hand() -> None:
    # image 0: 1, 3 (mean 2, sd sqrt 2); image 1: 5, 7 (mean 6, sd sqrt 2)
    # between-image sd of [2, 6] = 2 sqrt 2 -> reliability 2
    responses = np.array([[1.0], [3.0], [5.0], [7.0], [9.0]])
    ids = np.array([0, 0, 1, 1, 2])  # image 2 shown once: ignored
    np.testing.assert_allclose(reliability(responses, ids), [2.0])
    with pytest.raises(NeuroregError, match="shown at least twice"):
        reliability(responses, np.arange(5))
    p = np.array([[1.0, 1.0], [2.0, 1.0], [3.0, 1.0]])
    o = np.array([[2.0, 0.0], [4.0, 1.0], [6.0, 2.0]])
    np.testing.assert_allclose(prediction_accuracy(p, o), [1.0, 0.0])
    np.testing.assert_allclose(neuron_weights(np.array([2.0, 1.0]), np.array([0.5, -0.3])), [1, 0])


def test_bad_responses_and_weights_are_refused() -> None:
    with pytest.raises(NeuroregError, match="NaN"):
        similarity_matrix(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(NeuroregError, match="weights"):
        similarity_matrix(np.ones((3, 2)), np.array([1.0, -1.0]))


def test_pixel_and_shuffled_controls() -> None:
    rng = np.random.default_rng(1)
    stimuli = rng.integers(0, 256, (6, 4, 5), dtype=np.uint8)
    pixel = pixel_target(stimuli)
    np.testing.assert_allclose(pixel, similarity_matrix(stimuli.reshape(6, -1).astype(float)))
    shuffled = shuffled_target(pixel, seed=3)
    order = np.random.default_rng(3).permutation(6)
    np.testing.assert_allclose(shuffled, pixel[np.ix_(order, order)])
    assert not np.allclose(shuffled, pixel)


def test_cache_keeps_provenance_and_refuses_other_stimuli_or_models(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    stimuli = rng.integers(0, 256, (4, 3, 3), dtype=np.uint8)
    path = tmp_path / "t" / "target.npz"
    wanted = {"source": "twin", "stimuli": stimulus_hash(stimuli), "models": {"m": "a" * 64}}
    made = cached_target(path, wanted, lambda: pixel_target(stimuli))
    assert [p.name for p in path.parent.iterdir()] == ["target.npz"]  # no temporary left
    again = cached_target(path, wanted, lambda: pytest.fail("rebuilt a cached target"))
    np.testing.assert_array_equal(again.matrix, made.matrix)
    assert load_target(path).provenance == wanted
    other = stimuli.copy()
    other[0, 0, 0] ^= 1
    with pytest.raises(NeuroregError, match="other stimuli"):
        cached_target(path, {**wanted, "stimuli": stimulus_hash(other)}, lambda: made.matrix)
    with pytest.raises(NeuroregError, match="other models"):
        cached_target(path, {**wanted, "models": {"m": "b" * 64}}, lambda: made.matrix)
    (tmp_path / "junk.npz").write_bytes(b"not a target")
    with pytest.raises(NeuroregError, match="not a similarity target"):
        load_target(tmp_path / "junk.npz")


def test_simulator_sources_give_rates_and_single_trials() -> None:
    from neurotwin.simulate.config import make_config
    from neurotwin.simulate.static_mouse import StaticMouse

    config = make_config("static", "tiny")
    mouse = StaticMouse(config, seed=0, mouse=0)  # type: ignore[arg-type]
    rng = np.random.default_rng(0)
    stimuli = rng.integers(0, 256, (5, 36, 64), dtype=np.uint8)
    rates = simulator_predictor(mouse)(stimuli)
    assert rates.shape == (5, config.neurons) and (rates > 0).all()
    trials = single_trial_responses(mouse, stimuli, seed=1)
    assert trials.shape == rates.shape and not np.allclose(trials, rates)
    with pytest.raises(NeuroregError, match="multiple of theirs"):
        simulator_predictor(mouse)(rng.integers(0, 256, (5, 35, 64), dtype=np.uint8))
