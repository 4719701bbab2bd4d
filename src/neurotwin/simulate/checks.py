"""Realism checks of a simulated recording, computed from its recording and truth folders.

- the exact ceiling of each tier (:mod:`neurotwin.simulate.ceiling`);
- how far a linear model falls short: ridge regression from pixels (static);
- whether behaviour matters: an oracle that knows the true stimulus drive scores higher,
  relative to the ceiling, when it also knows each neuron's behavioural gain;
- whether the retinotopic map is recoverable from the neurons' cortical coordinates.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin.data import StaticRecording, open_recording
from neurotwin.simulate.ceiling import ceiling_from_arrays, exact_ceiling
from neurotwin.simulate.neurons import behavior_log_gain
from neurotwin.simulate.stimuli import downsample
from neurotwin.simulate.truth import load_simulation
from neurotwin.stats import correlation

#: Ridge penalties tried (chosen on the validation tier).
RIDGE_PENALTIES = (1e1, 1e2, 1e3, 1e4, 1e5)


def retinotopy_r2(truth_dir: str | os.PathLike[str]) -> float:
    """Fraction of receptive-field centre variance explained by cortical position.

    Regresses each receptive-field coordinate (row, column) on a quadratic function of the
    neurons' cortical x and y and averages the two R^2.

    Parameters
    ----------
    truth_dir
        The truth folder.

    Returns
    -------
    float
        Mean R^2 over the two axes.
    """
    neurons = np.load(Path(truth_dir) / "neurons.npz")
    x, y = (neurons["coordinates"][:, k].astype(np.float64) / 1000 for k in (0, 1))
    design = np.column_stack([np.ones_like(x), x, y, x * x, x * y, y * y])
    scores = []
    for target in neurons["centre"].T.astype(np.float64):
        coef, *_ = np.linalg.lstsq(design, target, rcond=None)
        residual = target - design @ coef
        scores.append(1 - residual.var() / target.var())
    return float(np.mean(scores))


def behavior_effect(truth_dir: str | os.PathLike[str], tier: str) -> dict[str, float]:
    """Score two oracles on a tier: the true rates with and without the behavioural gain.

    Parameters
    ----------
    truth_dir
        The truth folder.
    tier
        The tier to score.

    Returns
    -------
    dict
        ``ceiling`` (the true rates' correlation with responses), ``without_behavior``
        (the rates divided by each trial's behavioural gain) and ``fraction_without``
        (their ratio: how much of the ceiling a behaviour-blind oracle reaches).
    """
    truth = Path(truth_dir)
    tiers = np.load(truth / "tiers.npy").astype(str)
    index = np.flatnonzero(tiers == tier)
    neurons = np.load(truth / "neurons.npz")
    rates = np.asarray(np.load(truth / "rates.npy", mmap_mode="r")[index], dtype=np.float64)
    responses = np.asarray(np.load(truth / "responses.npy", mmap_mode="r")[index])
    z = np.asarray(np.load(truth / "behavior_z.npy", mmap_mode="r")[index])
    gain = behavior_log_gain(neurons, z[:, 0], z[:, 1])  # (trials, [T,] n)
    if rates.ndim == 3:  # video: rates are (trials, n, T)
        gain = gain.transpose(0, 2, 1)
    blind = rates / np.exp(gain)
    full = float(ceiling_from_arrays(rates, responses).mean())
    without = float(ceiling_from_arrays(blind, responses).mean())
    return {"ceiling": full, "without_behavior": without, "fraction_without": without / full}


def _design(images: np.ndarray, stats_mean: float, stats_std: float) -> np.ndarray:
    small = downsample(images[:, 0], images.shape[2] // 8, images.shape[3] // 8)
    flat = (small.reshape(len(small), -1) - stats_mean) / stats_std
    return np.column_stack([flat, np.ones(len(flat), dtype=np.float32)])


def ridge_score(
    recording_path: str | os.PathLike[str],
    truth_dir: str | os.PathLike[str],
    tier: str = "test",
    max_train: int = 5000,
) -> dict[str, float]:
    """Fit ridge regression from pixels to responses and score it against the ceiling.

    Images are block-averaged to 1/8 of their size (18 x 32 for SENSORIUM images), the
    penalty is chosen on the validation tier, and the model is scored on ``tier`` against
    the true responses in the truth folder (so it also works on competition releases).

    Parameters
    ----------
    recording_path
        A static simulated recording.
    truth_dir
        Its truth folder.
    tier
        The tier to score.
    max_train
        At most this many training trials are used.

    Returns
    -------
    dict
        ``correlation`` (mean single-trial correlation), ``ceiling`` and ``fraction``.
    """
    recording = open_recording(recording_path)
    if not isinstance(recording, StaticRecording):
        raise ValueError("ridge_score applies to static recordings")
    truth = Path(truth_dir)
    responses = np.load(truth / "responses.npy", mmap_mode="r")
    stats = recording.statistics("images")
    mean, std = float(stats["mean"]), float(stats["std"])

    def load(name: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        index = recording.tier_indices(name)[:limit]
        images = np.stack([recording.load("images", int(i)) for i in index]).astype(np.float32)
        return _design(images, mean, std), np.asarray(responses[index], dtype=np.float64)

    x_train, y_train = load("train", max_train)
    x_val, y_val = load("validation")
    x_test, y_test = load(tier)
    gram = x_train.T.astype(np.float64) @ x_train
    cross = x_train.T.astype(np.float64) @ y_train
    best, best_score = None, -np.inf
    for penalty in RIDGE_PENALTIES:
        weights = np.linalg.solve(gram + penalty * np.eye(len(gram)), cross)
        score = float(correlation(x_val @ weights, y_val).mean())
        if score > best_score:
            best, best_score = weights, score
    assert best is not None
    achieved = float(correlation(x_test @ best, y_test).mean())
    _, ceiling = exact_ceiling(truth, tier)
    return {"correlation": achieved, "ceiling": ceiling, "fraction": achieved / ceiling}


def realism_report(
    recording_path: str | os.PathLike[str], truth_dir: str | os.PathLike[str]
) -> dict[str, Any]:
    """Compute every realism check of a simulated recording.

    Parameters
    ----------
    recording_path
        The recording.
    truth_dir
        Its truth folder.

    Returns
    -------
    dict
        ``ceiling`` per tier, ``noise_level``, ``retinotopy_r2``, ``behavior`` (see
        :func:`behavior_effect`) on the main test tier and, for static recordings,
        ``ridge`` (see :func:`ridge_score`).
    """
    info = load_simulation(truth_dir)
    test_tier = "test" if info["kind"] == "static" else "live_test_main"
    report: dict[str, Any] = {
        "ceiling": info["ceiling_mean"],
        "noise_level": info["noise_level"],
        "retinotopy_r2": retinotopy_r2(truth_dir),
        "behavior": behavior_effect(truth_dir, test_tier),
    }
    if info["kind"] == "static":
        report["ridge"] = ridge_score(recording_path, truth_dir, test_tier)
    return report
