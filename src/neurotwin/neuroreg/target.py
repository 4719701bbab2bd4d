"""Similarity targets: how alike mouse V1 finds every pair of stimulus images.

The target of Li et al. (NeurIPS 2019) is built from *predicted* responses (a model
denoises the single trials): each neuron is weighted by its reliability (from repeated
images) times the model's prediction accuracy, each neuron's response is centred over the
images, each image's population vector is scaled to unit length, and the similarity of two
images is the dot product (a cosine). Similarity matrices of several recordings or mice are
averaged.

Responses come from any *predictor*, a callable ``predict(images_uint8) -> responses`` with
``images_uint8`` of shape ``(N, H, W)`` and responses of shape ``(N, n_neurons)``:
:mod:`neurotwin.neuroreg.sources` makes them from a trained twin, a simulated mouse's true
rates (the upper-bound control) or single noisy trials (the single-trial control).
:func:`pixel_target` and :func:`shuffled_target` make the two other controls.
:mod:`neurotwin.neuroreg.target_cache` caches a target on disk with its provenance.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from neurotwin.neuroreg.errors import NeuroregError

if TYPE_CHECKING:
    pass

#: ``predict(images_uint8 (N, H, W)) -> responses (N, n_neurons)``.
Predictor = Callable[[np.ndarray], np.ndarray]
#: Tiers whose repeated images give the reliability of each neuron.
REPEAT_TIERS = ("test", "final_test")
#: Images per forward pass of a twin.
PREDICT_CHUNK = 256


def check_stimuli(images: np.ndarray, what: str = "stimuli") -> np.ndarray:
    """Check a stack of grayscale images: ``(N, H, W)`` uint8 with ``N >= 2``.

    Parameters
    ----------
    images
        The images.
    what
        How the message names them.

    Returns
    -------
    numpy.ndarray
        The same array.

    Raises
    ------
    NeuroregError
        For another shape or dtype.
    """
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 3:
        shape = getattr(images, "shape", None)
        dtype = getattr(images, "dtype", type(images).__name__)
        raise NeuroregError(
            f"{what} must be a (N, height, width) uint8 array, got shape {shape} dtype {dtype}"
        )
    if len(images) < 2:
        raise NeuroregError(f"{what} must hold at least 2 images, got {len(images)}")
    return images


def stimulus_hash(images: np.ndarray) -> str:
    """Return the SHA-256 of a stimulus array (its shape, dtype and bytes).

    Parameters
    ----------
    images
        ``(N, H, W)`` uint8.

    Returns
    -------
    str
        Hex digest.
    """
    digest = hashlib.sha256(f"{images.shape}|{images.dtype}|".encode())
    digest.update(np.ascontiguousarray(images).tobytes())
    return digest.hexdigest()


def similarity_matrix(responses: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Cosine similarity between images of their centred, weighted population responses.

    Parameters
    ----------
    responses
        ``(N_images, n_neurons)`` responses (any unit).
    weights
        ``(n_neurons,)`` non-negative weight of each neuron; None weighs all alike.

    Returns
    -------
    numpy.ndarray
        ``(N_images, N_images)`` float64 in ``[-1, 1]``: ``S[i, j] = <r_i, r_j> / (|r_i| |r_j|)``
        with ``r_i = w * (x_i - mean_k x_k)``. An image whose centred vector is zero has
        similarity 0 to every image (1 to itself).

    Raises
    ------
    NeuroregError
        For a wrong shape, non-finite values or negative weights.
    """
    x = np.asarray(responses, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise NeuroregError(
            f"responses must be (N_images >= 2, n_neurons >= 1), got shape {x.shape}"
        )
    if not np.isfinite(x).all():
        raise NeuroregError("responses hold NaN or infinite values")
    x = x - x.mean(axis=0)
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (x.shape[1],) or not np.isfinite(w).all() or (w < 0).any():
            raise NeuroregError(
                f"neuron weights must be {x.shape[1]} finite values >= 0, got shape {w.shape}"
            )
        x = x * w
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    unit = np.divide(x, norm, out=np.zeros_like(x), where=norm > 1e-12)
    sim = np.clip(unit @ unit.T, -1.0, 1.0)
    np.fill_diagonal(sim, 1.0)
    return sim


def average_similarity(
    responses: Sequence[np.ndarray], weights: Sequence[np.ndarray | None] | None = None
) -> np.ndarray:
    """Mean of :func:`similarity_matrix` over recordings or mice.

    Parameters
    ----------
    responses
        One ``(N_images, n_neurons_k)`` array per recording (the same images, in the same
        order; neuron counts may differ).
    weights
        One ``(n_neurons_k,)`` array or None per recording; None weighs all alike.

    Returns
    -------
    numpy.ndarray
        ``(N_images, N_images)``.
    """
    if not responses:
        raise NeuroregError("a similarity target needs responses of at least one recording")
    weights = list(weights) if weights is not None else [None] * len(responses)
    if len(weights) != len(responses):
        raise NeuroregError(f"{len(weights)} weight arrays for {len(responses)} recordings")
    counts = {np.shape(r)[0] for r in responses}
    if len(counts) > 1:
        raise NeuroregError(f"recordings disagree on the number of images: {sorted(counts)}")
    mats = [similarity_matrix(r, w) for r, w in zip(responses, weights, strict=True)]
    out: np.ndarray = np.mean(mats, axis=0)
    return out


def reliability(responses: np.ndarray, image_ids: np.ndarray) -> np.ndarray:
    """Reliability of each neuron from repeated images.

    The standard deviation over images of the repeat-averaged responses divided by the mean
    over images of the within-image (across-repeat) standard deviation (Li et al. 2019).

    Parameters
    ----------
    responses
        ``(T, n_neurons)`` single-trial responses.
    image_ids
        ``(T,)`` the image of each trial; only images shown at least twice count.

    Returns
    -------
    numpy.ndarray
        ``(n_neurons,)`` >= 0; 0 for a neuron without trial-to-trial variability.

    Raises
    ------
    NeuroregError
        With fewer than two images shown at least twice.
    """
    ids = np.asarray(image_ids)
    values, counts = np.unique(ids, return_counts=True)
    repeated = values[counts >= 2]
    if len(repeated) < 2:
        raise NeuroregError(
            "reliability needs at least 2 images shown at least twice, "
            f"got {len(repeated)} repeated image(s)"
        )
    x = np.asarray(responses, dtype=np.float64)
    means = np.stack([x[ids == i].mean(axis=0) for i in repeated])
    within = np.stack([x[ids == i].std(axis=0, ddof=1) for i in repeated]).mean(axis=0)
    between = means.std(axis=0, ddof=1)
    out: np.ndarray = np.divide(between, within, out=np.zeros_like(between), where=within > 1e-12)
    return out


def prediction_accuracy(predicted: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Pearson correlation over trials between predicted and observed responses, per neuron.

    Parameters
    ----------
    predicted, observed
        ``(T, n_neurons)``.

    Returns
    -------
    numpy.ndarray
        ``(n_neurons,)``; 0 where either side is constant.
    """
    p = np.asarray(predicted, dtype=np.float64)
    o = np.asarray(observed, dtype=np.float64)
    if p.shape != o.shape or p.ndim != 2:
        raise NeuroregError(f"predicted {p.shape} and observed {o.shape} responses differ")
    p = p - p.mean(axis=0)
    o = o - o.mean(axis=0)
    den = np.sqrt((p**2).sum(axis=0) * (o**2).sum(axis=0))
    num = (p * o).sum(axis=0)
    out: np.ndarray = np.divide(num, den, out=np.zeros_like(num), where=den > 1e-12)
    return out


def neuron_weights(reliabilities: np.ndarray, accuracies: np.ndarray) -> np.ndarray:
    """Weight of each neuron in the target: reliability times prediction accuracy.

    Negative values (an anti-correlated prediction) are set to 0.

    Parameters
    ----------
    reliabilities, accuracies
        ``(n_neurons,)``.

    Returns
    -------
    numpy.ndarray
        ``(n_neurons,)`` >= 0.
    """
    weights: np.ndarray = np.clip(reliabilities, 0, None) * np.clip(accuracies, 0, None)
    return weights


def pixel_target(stimuli: np.ndarray) -> np.ndarray:
    """Compute the pixel-similarity control: pixels play the part of neurons, all weighted alike.

    Parameters
    ----------
    stimuli
        ``(N, H, W)`` uint8.

    Returns
    -------
    numpy.ndarray
        ``(N, N)``.
    """
    check_stimuli(stimuli)
    return similarity_matrix(stimuli.reshape(len(stimuli), -1).astype(np.float64))


def shuffled_target(target: np.ndarray, seed: int = 0) -> np.ndarray:
    """Make the shuffled control: the same matrix with its images permuted.

    The distribution of similarities is kept; which image is like which is lost.

    Parameters
    ----------
    target
        ``(N, N)`` similarity matrix.
    seed
        Seed of the permutation.

    Returns
    -------
    numpy.ndarray
        ``target[p][:, p]`` for a random permutation ``p``.
    """
    order = np.random.default_rng(seed).permutation(len(target))
    out: np.ndarray = target[np.ix_(order, order)]
    return out
