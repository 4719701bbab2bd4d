"""Inference of a video twin on whole trials of any length, in pieces of bounded memory.

A 2023 trial runs to about 324 frames (NaN-padded in the release); only frames 50..299 are
scored (:data:`~neurotwin.scoring.metrics.SKIP_FRAMES`,
:data:`~neurotwin.scoring.metrics.STOP_FRAME`). :func:`predict_trial` runs the model over
a trial's true frames ``chunk_frames`` at a time, handing the core's state from one piece
to the next (:meth:`~neurotwin.models.video_twin.VideoTwin.stream`): the GRU's hidden
state, or the factorised 3D core's last ``temporal_context`` input frames (its burn-in).
The result equals one pass over the whole trial, while memory grows with
``chunk_frames + temporal_context`` frames only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from neurotwin.errors import NeurotwinError
from neurotwin.models.video_twin import VideoTwin
from neurotwin.scoring.metrics import SKIP_FRAMES, STOP_FRAME

#: Frames per piece when none is given: a whole scored trial in about three pieces.
DEFAULT_CHUNK_FRAMES = 128


def _valid_length(series: Sequence[np.ndarray]) -> int:
    """Frames before the first frame that holds a NaN in any of ``series`` (time last)."""
    length = series[0].shape[-1]
    for values in series:
        bad = np.isnan(values.reshape(-1, values.shape[-1])).any(axis=0)
        hits = np.flatnonzero(bad)
        if hits.size:
            length = min(length, int(hits[0]))
    return length


def predict_trial(
    model: VideoTwin,
    key: str,
    video: np.ndarray,
    *,
    behavior: np.ndarray | None = None,
    pupil_center: np.ndarray | None = None,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
) -> np.ndarray:
    """Predict one trial in pieces of ``chunk_frames`` frames.

    Parameters
    ----------
    model
        A video twin; it runs in eval mode (its mode is restored afterwards).
    key
        The recording key.
    video
        ``(T, H, W)`` or ``(1, T, H, W)`` frames in the model's input unit (as the loaders
        deliver them), possibly NaN-padded at the end.
    behavior
        ``(C, T)`` behaviour, when the model reads it.
    pupil_center
        ``(2, T)`` pupil centre, when the model reads it.
    chunk_frames
        Frames per piece (besides the core's burn-in of ``temporal_context`` frames).

    Returns
    -------
    numpy.ndarray
        ``(T, n_neurons)`` float32 rates: NaN for the first ``temporal_context`` frames
        (no prediction) and from the first padded (NaN) frame on.

    Raises
    ------
    NeurotwinError
        A missing input the model reads, series whose frame counts differ, a trial that is
        all padding or shorter than the model's temporal context, or ``chunk_frames < 1``.
    """
    if chunk_frames < 1:
        raise NeurotwinError(f"chunk_frames must be positive, got {chunk_frames}")
    video = np.asarray(video, dtype=np.float32)
    if video.ndim == 4 and video.shape[0] == 1:
        video = video[0]
    if video.ndim != 3:
        raise NeurotwinError(f"a trial's video has shape {video.shape}, expected (T, H, W)")
    n_frames = video.shape[0]
    given = {"behavior": behavior, "pupil_center": pupil_center}
    series: dict[str, np.ndarray] = {}
    for name in model.required_fields[1:]:
        value = given[name]
        if value is None:
            raise NeurotwinError(
                f"model {model.name or type(model).__name__!r} reads {name!r}; pass it "
                f"(shape (channels, {n_frames}))"
            )
        array = np.asarray(value, dtype=np.float32)
        if array.ndim != 2 or array.shape[1] != n_frames:
            raise NeurotwinError(
                f"{name} has shape {array.shape}, expected (channels, {n_frames}) to match "
                f"the video's {n_frames} frames"
            )
        series[name] = array
    length = _valid_length([np.moveaxis(video, 0, -1), *series.values()])
    context = model.temporal_context
    if length == 0:
        raise NeurotwinError(
            "the trial is all padding (its first frame is NaN): nothing to predict"
        )
    if length <= context:
        raise NeurotwinError(
            f"the trial has {length} frames; model {model.name!r} needs more than its temporal "
            f"context of {context} frames to predict any"
        )
    n = model.check_key(key).n_neurons
    out = np.full((n_frames, n), np.nan, dtype=np.float32)
    param = next(model.parameters())
    was_training = model.training
    model.eval()
    state: Any = None
    try:
        with torch.no_grad():
            for start in range(0, length, chunk_frames):
                stop = min(start + chunk_frames, length)
                batch = {"videos": torch.from_numpy(video[None, None, start:stop]).to(param)}
                for name, values in series.items():
                    batch[name] = torch.from_numpy(values[None, :, start:stop]).to(param)
                rates, state = model.stream(batch, key, state)
                piece = rates[0].float().cpu().numpy()
                out[stop - piece.shape[0] : stop] = piece
    finally:
        model.train(was_training)
    return out


def predict_batch(
    model: VideoTwin,
    batch: Mapping[str, torch.Tensor],
    key: str,
    *,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
) -> torch.Tensor:
    """Predict a batch of whole (zero-padded) trials in pieces of ``chunk_frames`` frames.

    The caller sets the mode (eval) and disables gradients. Frames past a trial's end are
    predicted from the padding; the causal cores never let them reach earlier frames.

    Parameters
    ----------
    model
        A video twin.
    batch
        ``videos`` ``(B, 1, T, H, W)`` and the series the model reads, ``(B, C, T)``.
    key
        The recording key.
    chunk_frames
        Frames per piece (besides the core's burn-in of ``temporal_context`` frames).

    Returns
    -------
    torch.Tensor
        ``(B, T, n_neurons)`` rates, NaN for the first ``temporal_context`` frames.

    Raises
    ------
    NeurotwinError
        ``chunk_frames < 1``, or a field the model reads missing.
    """
    if chunk_frames < 1:
        raise NeurotwinError(f"chunk_frames must be positive, got {chunk_frames}")
    videos = batch["videos"]
    b, t = videos.shape[0], videos.shape[2]
    out = videos.new_full((b, t, model.check_key(key).n_neurons), float("nan"))
    state: Any = None
    for start in range(0, t, chunk_frames):
        stop = min(start + chunk_frames, t)
        piece = {
            name: model.batch_field(batch, name)[:, :, start:stop] for name in model.required_fields
        }
        rates, state = model.stream(piece, key, state)
        out[:, stop - rates.shape[1] : stop] = rates
    return out


def predict_trials(
    model: VideoTwin,
    key: str,
    videos: Sequence[np.ndarray],
    *,
    behavior: Sequence[np.ndarray] | None = None,
    pupil_center: Sequence[np.ndarray] | None = None,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
) -> list[np.ndarray]:
    """Predict trials of any (and unequal) lengths, one after the other.

    Parameters
    ----------
    model, key, chunk_frames
        As for :func:`predict_trial`.
    videos
        One ``(T_i, H, W)`` array per trial.
    behavior, pupil_center
        One ``(C, T_i)`` / ``(2, T_i)`` array per trial, when the model reads them.

    Returns
    -------
    list of numpy.ndarray
        One ``(T_i, n_neurons)`` array per trial (see :func:`predict_trial`).
    """
    out = []
    for i, video in enumerate(videos):
        try:
            out.append(
                predict_trial(
                    model,
                    key,
                    video,
                    behavior=None if behavior is None else behavior[i],
                    pupil_center=None if pupil_center is None else pupil_center[i],
                    chunk_frames=chunk_frames,
                )
            )
        except NeurotwinError as error:
            raise NeurotwinError(f"trial {i}: {error}") from None
    return out


def scored_prediction(prediction: np.ndarray) -> np.ndarray:
    """Return a trial's scored frames in submission layout, ``(n_neurons, F)``.

    Parameters
    ----------
    prediction
        ``(T, n_neurons)`` from :func:`predict_trial`.

    Returns
    -------
    numpy.ndarray
        Frames ``SKIP_FRAMES`` (50) up to ``STOP_FRAME`` (300) or the trial's true end.

    Raises
    ------
    NeurotwinError
        A scored frame without a prediction (a temporal context beyond 50 frames), or a
        trial that ends before its first scored frame.
    """
    prediction = np.asarray(prediction)
    finite = np.isfinite(prediction).all(axis=1)
    end = int(np.flatnonzero(finite)[-1]) + 1 if finite.any() else 0
    stop = min(STOP_FRAME, end)
    if stop <= SKIP_FRAMES:
        raise NeurotwinError(
            f"the trial's predictions end at frame {end}, before the first scored frame "
            f"{SKIP_FRAMES}"
        )
    window = prediction[SKIP_FRAMES:stop]
    if not np.isfinite(window).all():
        first = SKIP_FRAMES + int(np.flatnonzero(~np.isfinite(window).all(axis=1))[0])
        raise NeurotwinError(
            f"frame {first} is scored but has no prediction; the model's temporal context "
            f"must stay below {SKIP_FRAMES} frames"
        )
    return np.ascontiguousarray(window.T)
