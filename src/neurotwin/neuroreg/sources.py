"""Where responses for a similarity target come from: a twin, the simulator, single trials.

Each source is a *predictor* (:data:`~neurotwin.neuroreg.target.Predictor`), a callable
``predict(images_uint8 (N, H, W)) -> (N, n_neurons)``: :func:`twin_predictor` wraps a trained
twin (through its :meth:`~neurotwin.models.TwinModule.predict_responses`),
:func:`simulator_predictor` a simulated mouse's true rates (the upper-bound control), and
:func:`single_trial_responses` draws one noisy trial per image (the single-trial control).
:func:`recording_weights` weights a recording's neurons by reliability times accuracy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from neurotwin.data.images import to_uint8
from neurotwin.neuroreg.errors import NeuroregError
from neurotwin.neuroreg.target import (
    PREDICT_CHUNK,
    REPEAT_TIERS,
    Predictor,
    check_stimuli,
    neuron_weights,
    prediction_accuracy,
    reliability,
)

if TYPE_CHECKING:
    from neurotwin.data.recording import Recording
    from neurotwin.models.base import TwinModule
    from neurotwin.simulate.static_mouse import StaticMouse


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
    predicted_unique = predict(to_uint8(raw, hw))
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
