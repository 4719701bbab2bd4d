"""Similarity targets: how alike mouse V1 finds every pair of stimulus images.

The target of Li et al. (NeurIPS 2019) is built from *predicted* responses (a model
denoises the single trials): each neuron is weighted by its reliability (from repeated
images) times the model's prediction accuracy, each neuron's response is centred over the
images, each image's population vector is scaled to unit length, and the similarity of two
images is the dot product (a cosine). Similarity matrices of several recordings or mice are
averaged.

Responses come from any *predictor*, a callable ``predict(images_uint8) -> responses`` with
``images_uint8`` of shape ``(N, H, W)`` and responses of shape ``(N, n_neurons)``:
:func:`twin_predictor` wraps a trained twin, :func:`simulator_predictor` a simulated mouse's
true rates (the upper-bound control) and :func:`single_trial_responses` draws one noisy
trial per image (the single-trial control). :func:`pixel_target` and
:func:`shuffled_target` make the two other controls.

A target is cached on disk (:func:`cached_target`) with its provenance: the hashes of the
model files and of the stimulus array. A cached target made from other models or stimuli
than the ones asked for is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neurotwin.neuroreg.errors import NeuroregError

if TYPE_CHECKING:
    from neurotwin.data.recording import Recording
    from neurotwin.models.base import TwinModule
    from neurotwin.simulate.static_mouse import StaticMouse

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


def _resize(images: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Resize ``(N, H, W)`` images like the loaders (anti-aliased, bilinear) to uint8."""
    if images.shape[-2:] == hw:
        return np.clip(np.rint(images), 0, 255).astype(np.uint8)
    from skimage.transform import resize

    out = resize(images, (len(images), *hw), order=1, anti_aliasing=True, preserve_range=True)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def twin_predictor(model: TwinModule, recording: Recording) -> Predictor:
    """Wrap a trained twin as a predictor of one recording's responses to raw images.

    Behaviour and pupil centre, when the model needs them, are held at the recording's mean.

    Parameters
    ----------
    model
        A trained twin with a readout for ``recording``.
    recording
        The recording the twin was trained on (its statistics normalise the inputs and
        scale the outputs back to the recording's response units).

    Returns
    -------
    Predictor
        ``predict(images_uint8 (N, H, W)) -> (N, n_neurons)`` float64 responses in the
        recording's units.

    Raises
    ------
    NeuroregError
        When the twin has no readout for the recording; the predictor raises it when the
        images do not have the size the twin was trained at.
    """
    key = recording.key
    if key not in model.infos:
        raise NeuroregError(
            f"model has no readout for recording {recording.name} (key {key}); "
            f"its recordings: {', '.join(model.infos)}"
        )
    info = model.infos[key]
    if info.normalization is None:
        from neurotwin.models import attach_normalization

        attach_normalization(model, recording)  # a model file that predates saving it
    held = {
        name: np.asarray(recording.statistics(name)["mean"], dtype=np.float32).reshape(1, -1)
        for name in model.required_fields[1:]
    }

    def predict(images: np.ndarray) -> np.ndarray:
        check_stimuli(images)
        if tuple(images.shape[1:]) != tuple(info.image_hw):
            raise NeuroregError(
                f"the twin of {recording.name} was trained at image size "
                f"{info.image_hw[0]}x{info.image_hw[1]}, but the stimuli are "
                f"{images.shape[1]}x{images.shape[2]}; make the stimuli at the twin's size"
            )
        inputs = {name: np.repeat(mean, len(images), axis=0) for name, mean in held.items()}
        responses = model.predict_responses(images, key, batch_size=PREDICT_CHUNK, **inputs)
        return responses.astype(np.float64)

    return predict


def recording_weights(predict: Predictor, recording: Recording, hw: tuple[int, int]) -> np.ndarray:
    """Neuron weights of a recording: reliability (repeats) times prediction accuracy.

    Both come from the trials of the recording's repeated test tiers
    (:data:`REPEAT_TIERS`); the accuracy is the correlation of the prediction with the
    single-trial responses.

    Parameters
    ----------
    predict
        Predictor of this recording's responses.
    recording
        A static recording whose test tiers hold responses.
    hw
        Image size the predictor expects (the recording's images are resized to it).

    Returns
    -------
    numpy.ndarray
        ``(n_neurons,)`` >= 0.

    Raises
    ------
    NeuroregError
        When the recording has no repeated test images with responses.
    """
    from neurotwin.data.recording import StaticRecording

    if not isinstance(recording, StaticRecording):
        raise NeuroregError(f"{recording.location}: a static (image) recording is needed")
    trials = np.concatenate([recording.tier_indices(t) for t in REPEAT_TIERS])
    if len(trials) == 0:
        raise NeuroregError(f"{recording.location}: no trials in the tiers {REPEAT_TIERS}")
    ids = np.asarray(recording.image_ids)[trials]
    responses = np.stack([recording.load("responses", int(i)) for i in trials])
    if not np.abs(responses).any():
        raise NeuroregError(
            f"{recording.location}: the test tiers' responses are withheld (all zero); "
            "reliability needs a recording with test responses"
        )
    unique, first = np.unique(ids, return_index=True)
    raw = np.stack([recording.load("images", int(trials[i]))[0] for i in first])
    predicted_unique = predict(_resize(raw, hw))
    predicted = predicted_unique[np.searchsorted(unique, ids)]
    return neuron_weights(reliability(responses, ids), prediction_accuracy(predicted, responses))


def simulator_predictor(mouse: StaticMouse) -> Predictor:
    """Wrap a simulated mouse's true rates (eye at rest, mean behaviour): the upper bound.

    Images at the mouse's model resolution are repeated up to its stimulus size, which its
    block-average returns exactly to the input.

    Parameters
    ----------
    mouse
        A :class:`~neurotwin.simulate.static_mouse.StaticMouse`.

    Returns
    -------
    Predictor
        ``predict(images_uint8 (N, h, w)) -> (N, n_neurons)`` expected responses.
    """

    def predict(images: np.ndarray) -> np.ndarray:
        full = _mouse_images(mouse, images)
        trials = np.zeros(len(images), dtype=np.int64)
        rates: np.ndarray = mouse.rates(full, trials, use_behavior=False, use_eye_position=False)
        return rates.astype(np.float64)

    return predict


def single_trial_responses(mouse: StaticMouse, images: np.ndarray, seed: int = 0) -> np.ndarray:
    """One noisy trial of a simulated mouse per image: the single-trial control.

    Each image is shown on a different trial of the mouse (its behaviour, eye position and
    shared gain vary as in a recording) and one response is drawn around the rate.

    Parameters
    ----------
    mouse
        A :class:`~neurotwin.simulate.static_mouse.StaticMouse`.
    images
        ``(N, h, w)`` uint8 at the mouse's model resolution (or a multiple of it).
    seed
        Chooses the trials and the noise.

    Returns
    -------
    numpy.ndarray
        ``(N, n_neurons)`` float64 >= 0.
    """
    full = _mouse_images(mouse, images)
    rng = np.random.default_rng(seed)
    trials = rng.choice(mouse.n_trials, size=len(images), replace=len(images) > mouse.n_trials)
    rates = mouse.rates(full, trials)
    out: np.ndarray = mouse.responses(rates, trials, chunk_id=10**6 + seed).astype(np.float64)
    return out


def _mouse_images(mouse: StaticMouse, images: np.ndarray) -> np.ndarray:
    check_stimuli(images)
    height, width = mouse.config.height, mouse.config.width
    h, w = images.shape[1:]
    if height % h or width % w:
        raise NeuroregError(
            f"stimuli of {h}x{w} cannot be shown to the simulated mouse: its stimulus size "
            f"{height}x{width} must be a multiple of theirs (its model grid is "
            f"{mouse.config.model_height}x{mouse.config.model_width})"
        )
    up = np.repeat(np.repeat(images, height // h, axis=1), width // w, axis=2)
    return up[:, None].astype(np.float32)


@dataclass
class SimilarityTarget:
    """A similarity matrix and where it came from.

    Attributes
    ----------
    matrix
        ``(N, N)`` float64 similarities of the stimulus images, in stimulus order.
    provenance
        ``source`` (how it was made), ``stimuli`` (:func:`stimulus_hash`), ``models``
        (``{label: sha256 of the file}``) and free-form details.
    """

    matrix: np.ndarray
    provenance: dict[str, Any] = field(default_factory=dict)


def model_file_hash(spec: str | os.PathLike[str]) -> str:
    """SHA-256 of the file a model spec names (a file, a run folder or a pretrained name).

    Parameters
    ----------
    spec
        As accepted by :func:`neurotwin.models.resolve_model`.

    Returns
    -------
    str
        Hex digest of the weights file.
    """
    from neurotwin.data.cache import file_checksum
    from neurotwin.models.pretrained import WEIGHTS_DIR, list_pretrained

    path = Path(spec)
    if path.is_dir():
        path = path / "model.pt"
    elif not path.is_file() and str(spec) in list_pretrained():
        path = WEIGHTS_DIR / f"{spec}.pt"
    if not path.is_file():
        raise NeuroregError(f"{spec}: no model file to hash")
    return file_checksum(path)


def save_target(path: str | os.PathLike[str], target: SimilarityTarget) -> Path:
    """Write a target atomically (a temporary file renamed into place).

    Parameters
    ----------
    path
        The ``.npz`` file to write.
    target
        The target.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(
                handle,
                matrix=target.matrix.astype(np.float64),
                provenance=np.array(json.dumps(target.provenance, sort_keys=True)),
            )
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_target(path: str | os.PathLike[str]) -> SimilarityTarget:
    """Read a target written by :func:`save_target`.

    Raises
    ------
    NeuroregError
        When the file is not such a target.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            matrix = np.asarray(data["matrix"], dtype=np.float64)
            provenance = json.loads(str(data["provenance"]))
    except (OSError, ValueError, KeyError) as exc:
        raise NeuroregError(f"{path}: not a similarity target file ({exc})") from exc
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise NeuroregError(f"{path}: the similarity matrix has shape {matrix.shape}")
    return SimilarityTarget(matrix, provenance)


#: Provenance fields that must agree for a cached target to be reused.
MATCHED = ("source", "stimuli", "models")


def cached_target(
    path: str | os.PathLike[str],
    provenance: Mapping[str, Any],
    build: Callable[[], np.ndarray],
) -> SimilarityTarget:
    """Return the target cached at ``path``, or build, cache and return it.

    Parameters
    ----------
    path
        The cache file (``.npz``).
    provenance
        What the target must have been made from: at least ``source``, ``stimuli`` (the
        hash of the stimulus array) and ``models`` (``{label: file hash}``, empty for
        targets without a model).
    build
        Makes the matrix when the cache is absent.

    Returns
    -------
    SimilarityTarget
        The cached or newly built target.

    Raises
    ------
    NeuroregError
        When the cached target was made from other stimuli, models or source than asked.
    """
    wanted = dict(provenance)
    missing = [k for k in MATCHED if k not in wanted]
    if missing:
        raise NeuroregError(f"target provenance lacks {', '.join(missing)}")
    path = Path(path)
    if path.exists():
        cached = load_target(path)
        for name in MATCHED:
            have, want = cached.provenance.get(name), wanted[name]
            if have != want:
                raise NeuroregError(
                    f"{path}: the cached target was made from other {name} than asked "
                    f"(cached {_short(have)}, asked {_short(want)}); delete the file or "
                    "choose another target path"
                )
        return cached
    target = SimilarityTarget(build(), wanted)
    save_target(path, target)
    return target


def _short(value: Any) -> str:
    if isinstance(value, str) and len(value) == 64:
        return value[:12]
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in sorted(value.items())) + "}"
    return repr(value)
