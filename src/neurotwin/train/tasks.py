"""The task seam: what the trainer learns from a batch and how it scores a model.

The trainer knows nothing of the shape of a prediction. It asks its :class:`Task` for

- the data term of the loss of a batch (:meth:`Task.loss`; the trainer adds the model's
  regulariser): the Poisson loss of the predictions against ``responses``, with the first
  ``temporal_context`` frames of a video window (the burn-in frames a model predicts
  nothing for) cut from the targets and an optional ``mask`` ``(B, T)`` of the frames that
  count (padding), scaled by ``sqrt(n_train / batch_size)`` as the 2022 kit does;
- the predictions of a loader's batches, gathered in file-index order
  (:meth:`Task.predict`);
- the validation score of those predictions (:meth:`Task.score`), which early stopping
  maximises.

:class:`StaticTask` is the static (SENSORIUM 2022) task: ``(B, n)`` predictions stacked into
``(N, n)``, scored by the mean per-neuron correlation over every neuron of every recording.
:class:`VideoTask` is the video (SENSORIUM 2023) task: the loss masks each trial's padding
(its ``length``), predictions are whole trials cut to their scored frames, scored by the
2023 single-trial correlation exactly as :mod:`neurotwin.scoring` computes it. Another
task adds itself by subclassing :class:`Task` and registering in :data:`TASKS` under its
stimulus kind; the trainer does not change.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from neurotwin.errors import NeurotwinError
from neurotwin.scoring.metrics import (
    SKIP_FRAMES,
    STOP_FRAME,
    correlation,
    mean_over_neurons,
    video_correlation,
)
from neurotwin.train.config import TrainConfig
from neurotwin.train.losses import loss_scale, poisson_loss
from neurotwin.train.prediction import Batch, run_batches, to_device
from neurotwin.train.twin import module_of

if TYPE_CHECKING:
    from neurotwin.models.contract import TwinModel


@dataclass
class Predictions:
    """A model's predictions of one recording's trials, in the order they came.

    Attributes
    ----------
    index
        ``(N,)`` int64 file indices of the trials.
    values
        Predictions, ``(N, ...)``: ``(N, n)`` for the static task.
    targets
        The recorded responses, same shape, when asked for; else None.
    """

    index: np.ndarray
    values: np.ndarray
    targets: np.ndarray | None = None

    def in_file_order(self) -> Predictions:
        """Return the predictions sorted by file index, duplicates (padding shards) dropped."""
        index, first = np.unique(self.index, return_index=True)
        targets = None if self.targets is None else self.targets[first]
        return Predictions(index, self.values[first], targets)


class Task(ABC):
    """What is learned from a batch and how a model is scored (see the module docstring).

    Parameters
    ----------
    loss
        Name of the loss (``"poisson"``, the only one today).
    avg_loss
        Mean over the elements that count instead of the sum.
    scale_loss
        Multiply by ``sqrt(n_train / batch_size)``.
    temporal_context
        Frames at the start of a window that the model predicts nothing for (0 static).
    """

    #: The kind of stimulus of the models this task trains.
    kind: ClassVar[str]

    def __init__(
        self,
        loss: str = "poisson",
        *,
        avg_loss: bool = False,
        scale_loss: bool = True,
        temporal_context: int = 0,
    ) -> None:
        if loss != "poisson":
            raise NeurotwinError(f"unknown loss {loss!r}; known: poisson")
        if temporal_context < 0:
            raise NeurotwinError(f"temporal_context must be >= 0, got {temporal_context}")
        self.avg_loss = avg_loss
        self.scale_loss = scale_loss
        self.temporal_context = temporal_context

    def loss(
        self, prediction: torch.Tensor, batch: Mapping[str, torch.Tensor], n_train: int
    ) -> torch.Tensor:
        """Return the data term of a batch's loss.

        Parameters
        ----------
        prediction
            The model's output: ``(B, n)``, or ``(B, T - temporal_context, n)`` for video.
        batch
            The batch: ``responses`` ``(B, n)`` or ``(B, T, n)``; an optional ``mask``
            ``(B, T)`` of the frames that count.
        n_train
            Training trials of the batch's recording (for the loss scale).

        Returns
        -------
        torch.Tensor
            A scalar.
        """
        target = batch["responses"]
        mask = batch.get("mask")
        if self.temporal_context:
            target = target[:, self.temporal_context :]
            mask = None if mask is None else mask[:, self.temporal_context :]
        loss = poisson_loss(prediction, target, avg=self.avg_loss, mask=mask)
        if self.scale_loss:
            loss = loss * loss_scale(n_train, prediction.shape[0])
        return loss

    @abstractmethod
    def predict(
        self,
        model: TwinModel,
        batches: Iterable[Batch],
        key: str,
        device: torch.device,
        *,
        channels_last: bool = False,
        targets: bool = False,
    ) -> Predictions:
        """Predict every batch in eval mode without gradients, in the order they come.

        Parameters
        ----------
        model
            The model.
        batches
            Batches of one recording.
        key
            The recording's key.
        device
            Where the model lives.
        channels_last
            Put images in channels-last format.
        targets
            Also collect ``responses``.

        Returns
        -------
        Predictions
            In the order of the batches.
        """

    @abstractmethod
    def score(self, predictions: Mapping[str, Predictions]) -> tuple[float, dict[str, float]]:
        """Return the validation score (higher is better) and each recording's.

        Parameters
        ----------
        predictions
            ``{recording_key: Predictions}`` with targets, in file-index order.

        Returns
        -------
        score : float
            What early stopping maximises.
        per_recording : dict
            Each recording's score.
        """


class StaticTask(Task):
    """Static images: ``(B, n)`` predictions, mean per-neuron correlation (the 2022 kit's)."""

    kind = "static"

    def predict(
        self,
        model: TwinModel,
        batches: Iterable[Batch],
        key: str,
        device: torch.device,
        *,
        channels_last: bool = False,
        targets: bool = False,
    ) -> Predictions:
        """Stack the ``(B, n)`` predictions of every batch into ``(N, n)`` (see :class:`Task`).

        Without a batch: ``(0, n)`` arrays (targets too when asked for), the shape the
        other processes of a distributed validation gather.
        """
        index, values, responses = run_batches(
            model, batches, key, device, channels_last=channels_last, targets=targets
        )
        if not len(index):
            empty = np.zeros((0, _n_neurons(model, key)), np.float32)
            return Predictions(index, empty, empty.copy() if targets else None)
        return Predictions(index, values, responses)

    def score(self, predictions: Mapping[str, Predictions]) -> tuple[float, dict[str, float]]:
        """Mean per-neuron correlation over every neuron of every recording.

        Like the 2022 kit: correlations per neuron (NaN counts as 0), stacked across
        recordings, then averaged, so a recording weighs by its number of neurons.
        """
        per_neuron = []
        per_recording = {}
        for key, recording in predictions.items():
            if recording.targets is None:
                raise NeurotwinError(f"no responses to score the predictions of {key!r} against")
            values = correlation(recording.targets, recording.values, axis=0)
            per_neuron.append(values)
            per_recording[key] = float(values.mean()) if values.size else 0.0
        return float(np.hstack(per_neuron).mean()), per_recording


class VideoTask(Task):
    """Videos: Poisson loss over a window's valid frames, the 2023 single-trial correlation.

    Loss: the first ``temporal_context`` frames of each window are cut (the model predicts
    nothing for them) and frames past a trial's ``length`` (the loaders' zero padding) are
    masked out. Predictions: whole trials, run in pieces of bounded memory
    (:func:`~neurotwin.models.video_inference.predict_batch`), kept as the scored frames
    ``SKIP_FRAMES`` (50) up to ``STOP_FRAME`` (300) or the trial's end, ``(N, n, 250)``
    NaN past each trial's scored frames (the scorer's layout). Score: the 2023 competition's
    single-trial correlation as the scorer computes it
    (:func:`~neurotwin.scoring.metrics.video_correlation` per recording, the neurons of
    every recording pooled into one mean). The loaders divide each neuron's responses by a
    positive scale, which leaves every correlation unchanged.
    """

    kind = "video"

    def loss(
        self, prediction: torch.Tensor, batch: Mapping[str, torch.Tensor], n_train: int
    ) -> torch.Tensor:
        """Return the base loss, padding masked by the batch's ``length`` (see class)."""
        length = batch.get("length")
        if batch.get("mask") is None and length is not None:
            frames = torch.arange(batch["responses"].shape[1], device=length.device)
            batch = {**batch, "mask": frames[None, :] < length[:, None]}
        return super().loss(prediction, batch, n_train)

    def predict(
        self,
        model: TwinModel,
        batches: Iterable[Batch],
        key: str,
        device: torch.device,
        *,
        channels_last: bool = False,
        targets: bool = False,
    ) -> Predictions:
        """Return the scored frames of whole trials, ``(N, n, 250)``, NaN-padded (see class).

        Raises
        ------
        NeurotwinError
            A model whose temporal context reaches into the scored frames (beyond 50).
        """
        if model.temporal_context > SKIP_FRAMES:
            raise NeurotwinError(
                f"model {getattr(model, 'name', '')!r} needs {model.temporal_context} frames "
                f"of history, more than the {SKIP_FRAMES} frames the 2023 score skips"
            )
        module = module_of(model)
        was_training = module.training
        module.eval()
        index, values, responses = [], [], []
        try:
            with torch.no_grad():
                for batch in batches:
                    on_device = to_device(batch, device)
                    rates = _whole_trials(module, on_device, key)
                    lengths = batch["length"].cpu().numpy()
                    values.append(_scored(rates.float().cpu().numpy(), lengths))
                    index.append(batch["index"].cpu().numpy().astype(np.int64))
                    if targets:
                        responses.append(_scored(batch["responses"].float().numpy(), lengths))
        finally:
            module.train(was_training)
        if not index:  # the shape the other processes of a distributed validation gather
            empty = np.zeros((0, _n_neurons(model, key), STOP_FRAME - SKIP_FRAMES), np.float32)
            return Predictions(np.zeros(0, np.int64), empty, empty.copy() if targets else None)
        return Predictions(
            np.concatenate(index),
            np.concatenate(values),
            np.concatenate(responses) if targets else None,
        )

    def score(self, predictions: Mapping[str, Predictions]) -> tuple[float, dict[str, float]]:
        """Return the 2023 single-trial correlation, all recordings' neurons pooled in one mean."""
        per_neuron = {}
        for key, recording in predictions.items():
            if recording.targets is None:
                raise NeurotwinError(f"no responses to score the predictions of {key!r} against")
            n_frames = np.isfinite(recording.targets).all(axis=1).sum(axis=1)
            per_neuron[key] = video_correlation(recording.values, recording.targets, n_frames)
        per_recording = {k: mean_over_neurons(v) for k, v in per_neuron.items()}
        return mean_over_neurons(np.concatenate(list(per_neuron.values()))), per_recording


def _n_neurons(model: TwinModel, key: str) -> int:
    """Neurons the model predicts for recording ``key`` (its readout's)."""
    info = model.infos.get(key)
    if info is None:
        raise NeurotwinError(f"model {model.name!r} has no readout for recording {key!r}")
    return int(info.n_neurons)


def _whole_trials(model: Any, batch: Mapping[str, torch.Tensor], key: str) -> torch.Tensor:
    """``(B, T, n)`` rates of whole zero-padded trials, NaN where a model predicts nothing.

    A video twin runs in pieces of bounded memory; an ensemble averages its members' whole
    trials frame by frame (in member order, as :class:`~neurotwin.models.Ensemble` does),
    so members of different temporal contexts align on the frame they predict and the
    frames before the longest context stay NaN; any other video model runs in one pass.
    """
    from neurotwin.models.ensemble import Ensemble
    from neurotwin.models.video_inference import predict_batch
    from neurotwin.models.video_twin import VideoTwin

    if isinstance(model, VideoTwin):
        return predict_batch(model, batch, key)
    if isinstance(model, Ensemble):
        parts = [_whole_trials(model.member(i), batch, key) for i in range(len(model))]
        total = parts[0]
        for part in parts[1:]:
            total = total + part
        return total / len(parts)
    return _front_padded(model(batch, key), batch["videos"])


def _front_padded(rates: torch.Tensor, videos: torch.Tensor) -> torch.Tensor:
    """``(B, T - context, n)`` rates -> ``(B, T, n)``, NaN for the first frames."""
    missing = videos.shape[2] - rates.shape[1]
    gap = rates.new_full((rates.shape[0], missing, rates.shape[2]), float("nan"))
    return torch.cat([gap, rates], dim=1)


def _scored(frames: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``(B, T, n)`` whole trials -> ``(B, n, 250)`` their scored frames, NaN past them."""
    width = STOP_FRAME - SKIP_FRAMES
    out = np.full((frames.shape[0], frames.shape[2], width), np.nan, np.float32)
    for i, length in enumerate(lengths):
        stop = min(int(length), STOP_FRAME)
        if stop > SKIP_FRAMES:
            out[i, :, : stop - SKIP_FRAMES] = frames[i, SKIP_FRAMES:stop].T
    return out


#: The tasks, by the stimulus kind of the models they train.
TASKS: dict[str, type[Task]] = {"static": StaticTask, "video": VideoTask}


def task_for(kind: str, config: TrainConfig, temporal_context: int = 0) -> Task:
    """Return the task that trains models of one stimulus kind with a recipe's loss.

    Parameters
    ----------
    kind
        The models' ``stimulus_kind`` (``"static"``...).
    config
        The recipe (``loss``, ``avg_loss``, ``scale_loss``).
    temporal_context
        The model's burn-in frames (0 for static models).

    Returns
    -------
    Task
        A new task.

    Raises
    ------
    NeurotwinError
        For a kind without a task, naming the known ones.
    """
    if kind not in TASKS:
        raise NeurotwinError(f"no training task for {kind!r} models; known: {', '.join(TASKS)}")
    return TASKS[kind](
        config.loss,
        avg_loss=config.avg_loss,
        scale_loss=config.scale_loss,
        temporal_context=temporal_context,
    )


def task_for_model(model: TwinModel, config: TrainConfig) -> Task:
    """Return the task that trains a model: the one of its stimulus kind.

    Parameters
    ----------
    model
        The model.
    config
        The recipe (its loss).

    Returns
    -------
    Task
        A new task, with the model's temporal context.
    """
    return task_for(model.stimulus_kind, config, model.temporal_context)
