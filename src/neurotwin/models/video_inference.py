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

from collections.abc import Callable, Mapping, Sequence
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


def _trial_inputs(
    model: Any, video: np.ndarray, behavior: np.ndarray | None, pupil_center: np.ndarray | None
) -> tuple[np.ndarray, dict[str, np.ndarray], int]:
    """Check one trial's arrays against what ``model`` reads.

    Returns the ``(T, H, W)`` float32 video, the ``(channels, T)`` series the model reads and
    the frames before the first NaN (the padding) of any of them.
    """
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
    return video, series, length


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
        A video twin; it runs in eval mode (its mode is restored afterwards). A model that
        declares a fixed window (``window_frames``, e.g. ``video-dwise``) is predicted by
        :func:`predict_trial_sliding` instead (``chunk_frames`` does not apply).
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
    if getattr(model, "window_frames", None) is not None:  # a fixed-window model
        return predict_trial_sliding(
            model, key, video, behavior=behavior, pupil_center=pupil_center
        )
    if chunk_frames < 1:
        raise NeurotwinError(f"chunk_frames must be positive, got {chunk_frames}")
    video, series, length = _trial_inputs(model, video, behavior, pupil_center)
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
    out = np.full((len(video), n), np.nan, dtype=np.float32)
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
        A video twin; a model that declares a fixed window (``window_frames``) runs its
        own sliding-window forward pass over the trials (each trial's own frames when the
        batch holds ``length``).
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
    if getattr(model, "window_frames", None) is not None:  # a fixed-window model slides
        rates: torch.Tensor = model(batch, key)
        return rates
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


# ---------------------------------------------------------------------- fixed-window models
def window_starts(n_frames: int, window: int, step: int) -> list[int]:
    """First frames of the windows that cover ``n_frames`` frames, ``step`` apart.

    The last window ends at the last frame (it may overlap its neighbour by more than
    ``window - step`` frames); an input of at most ``window`` frames is one window.

    Parameters
    ----------
    n_frames
        Frames of the input.
    window
        Frames per window.
    step
        Frames between the starts of two windows (1 ..``window``).

    Returns
    -------
    list of int
        Increasing starts, the first 0 and the last ``max(n_frames - window, 0)``.

    Raises
    ------
    NeurotwinError
        ``window < 1`` or a step outside ``1 .. window``.
    """
    if window < 1:
        raise NeurotwinError(f"window must be positive, got {window}")
    if not 1 <= step <= window:
        raise NeurotwinError(f"the sliding step must lie in 1..{window} (the window), got {step}")
    last = max(n_frames - window, 0)
    starts = list(range(0, last + 1, step))
    if starts[-1] != last:
        starts.append(last)
    return starts


def sliding_windows(
    run: Callable[[dict[str, torch.Tensor]], torch.Tensor],
    inputs: Mapping[str, torch.Tensor],
    window: int,
    step: int,
    windows_per_pass: int = 8,
) -> torch.Tensor:
    """Run a fixed-window model over a longer input, averaging overlapping predictions.

    Every field of ``inputs`` has time on axis 2 (``videos`` ``(B, 1, T, H, W)``, series
    ``(B, C, T)``). The windows of :func:`window_starts` are stacked into the batch axis,
    ``windows_per_pass`` at a time (times ``B``), run, and each frame's prediction is the
    mean over the windows that hold it.

    Parameters
    ----------
    run
        The model on one window: fields as ``inputs`` with ``window`` frames ->
        ``(b, window, n)``.
    inputs
        The fields, all with the same ``T``.
    window, step
        Frames per window and between window starts.
    windows_per_pass
        Windows run at once per input (bounds memory).

    Returns
    -------
    torch.Tensor
        ``(B, T, n)`` predictions; ``run(inputs)`` itself when ``T <= window``.
    """
    videos = inputs["videos"]
    b, t = videos.shape[0], videos.shape[2]
    if t <= window:
        return run(dict(inputs))
    starts = window_starts(t, window, step)
    total: torch.Tensor | None = None
    counts = torch.zeros(t, device=videos.device, dtype=videos.dtype)
    for first in range(0, len(starts), max(1, windows_per_pass)):
        group = starts[first : first + windows_per_pass]
        piece = {
            name: torch.cat([value[:, :, s : s + window] for s in group], dim=0)
            for name, value in inputs.items()
        }
        rates = run(piece)
        if total is None:
            total = rates.new_zeros(b, t, rates.shape[2])
        for number, s in enumerate(group):
            total[:, s : s + window] += rates[number * b : (number + 1) * b]
            counts[s : s + window] += 1
    assert total is not None
    return total / counts.to(total.dtype)[None, :, None]


def predict_trial_sliding(
    model: Any,
    key: str,
    video: np.ndarray,
    *,
    behavior: np.ndarray | None = None,
    pupil_center: np.ndarray | None = None,
    window: int | None = None,
    step: int | None = None,
    windows_per_pass: int = 8,
) -> np.ndarray:
    """Predict every frame of one trial with a fixed-window model, overlaps averaged.

    The trial's true frames (up to its first NaN frame) are cut into windows of ``window``
    frames ``step`` apart, the last one ending at the trial's last frame, and each frame's
    predictions averaged over the windows that hold it (:func:`sliding_windows`). A trial
    of at most ``window`` frames runs in one pass. The result equals ``model(batch)`` on the
    trial's true frames for a model whose forward pass slides the same way
    (``video-dwise``), and one pass over a window where the trial is exactly one window.

    Parameters
    ----------
    model
        A video model with ``window_frames`` (and ``slide_step``) attributes, such as
        ``video-dwise``; it runs in eval mode (its mode is restored afterwards).
    key
        The recording key.
    video
        ``(T, H, W)`` or ``(1, T, H, W)`` frames in the model's input unit, possibly
        NaN-padded at the end.
    behavior, pupil_center
        ``(C, T)`` / ``(2, T)`` series, when the model reads them.
    window
        Frames per window (None: ``model.window_frames``).
    step
        Frames between windows (None: ``model.slide_step``, else half a window).
    windows_per_pass
        Windows run through the model at once (bounds memory).

    Returns
    -------
    numpy.ndarray
        ``(T, n_neurons)`` float32 rates of every true frame, NaN from the first padded
        frame on.

    Raises
    ------
    NeurotwinError
        A model without a window and none given, a missing input the model reads, series
        whose frame counts differ, a trial that is all padding, or a step outside
        ``1 .. window``.
    """
    window = window if window is not None else getattr(model, "window_frames", None)
    if window is None:
        raise NeurotwinError(
            f"model {getattr(model, 'name', '') or type(model).__name__!r} declares no "
            "window_frames; pass window="
        )
    if step is None:
        step = getattr(model, "slide_step", None) or max(1, window // 2)
    window_starts(window, window, step)  # checks window and step
    video, series, length = _trial_inputs(model, video, behavior, pupil_center)
    if length == 0:
        raise NeurotwinError(
            "the trial is all padding (its first frame is NaN): nothing to predict"
        )
    n = model.check_key(key).n_neurons
    out = np.full((len(video), n), np.nan, dtype=np.float32)
    param = next(model.parameters())
    inputs = {"videos": torch.from_numpy(video[None, None, :length]).to(param)}
    for name, values in series.items():
        inputs[name] = torch.from_numpy(values[None, :, :length]).to(param)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            rates = sliding_windows(
                lambda piece: model(piece, key), inputs, window, step, windows_per_pass
            )
    finally:
        model.train(was_training)
    out[:length] = rates[0].float().cpu().numpy()
    return out
