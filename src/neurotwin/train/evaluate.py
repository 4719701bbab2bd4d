"""The validation score: a task's predictions, gathered from every process first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from neurotwin.data.loaders import batch_loader, epoch_sampler
from neurotwin.train.distributed import DistEnv, all_gather_arrays
from neurotwin.train.sampling import epoch_batches, shard
from neurotwin.train.tasks import Predictions, StaticTask, Task

if TYPE_CHECKING:
    from neurotwin.models.contract import TwinModel

#: A single process.
SINGLE = DistEnv()


def gathered_predictions(
    task: Task,
    model: TwinModel,
    dataset: Dataset[Any],
    batches: Sequence[np.ndarray],
    key: str,
    device: torch.device,
    env: DistEnv = SINGLE,
    channels_last: bool = False,
) -> Predictions:
    """Predict every trial of a dataset, each process a disjoint share of the batches.

    Under distributed training the shares of every process are gathered (variable lengths,
    with their trial indices) and put in file-index order, duplicates dropped, so every
    process ends with the same arrays as a single process would. A process without a
    batch (fewer batches than processes) sends empty arrays of the task's shape.

    Parameters
    ----------
    task
        Gathers the predictions of the batches.
    model
        The (unwrapped) model.
    dataset
        The trials, with ``responses``.
    batches
        Positions of every batch (all processes').
    key
        The recording's key.
    device
        Where the model lives.
    env
        This process's place.
    channels_last
        Put images in channels-last format.

    Returns
    -------
    Predictions
        With targets, in increasing file-index order.
    """
    mine = shard(list(batches), env.rank, env.world_size, pad=False)
    result = task.predict(
        model, batch_loader(dataset, mine), key, device, channels_last=channels_last, targets=True
    )
    if env.distributed:
        # a process without a batch holds empty arrays of the task's shape ((0, n) static,
        # (0, n, 250) video), which gather with the others' whatever the trials' lengths
        assert result.targets is not None
        result = Predictions(
            np.concatenate(all_gather_arrays(result.index, device)),
            np.concatenate(all_gather_arrays(result.values, device)),
            np.concatenate(all_gather_arrays(result.targets, device)),
        )
    return result.in_file_order()


def validation_score(
    task: Task,
    model: TwinModel,
    loaders: Mapping[str, DataLoader[Any]],
    device: torch.device,
    env: DistEnv = SINGLE,
    channels_last: bool = False,
) -> tuple[float, dict[str, float]]:
    """Return the task's score of a model on the validation loaders (their batch sizes).

    Parameters
    ----------
    task
        Gathers the predictions and scores them.
    model
        The (unwrapped) model.
    loaders
        ``{recording_key: DataLoader}`` of the validation tier (from
        :func:`neurotwin.data.make_loaders`).
    device
        Where the model lives.
    env
        This process's place (predictions are gathered before scoring).
    channels_last
        Put images in channels-last format.

    Returns
    -------
    score : float
        The task's score.
    per_recording : dict
        Each recording's.
    """
    predictions = {
        key: gathered_predictions(
            task,
            model,
            loader.dataset,
            epoch_sampler(loader).for_epoch(0),
            key,
            device,
            env,
            channels_last,
        )
        for key, loader in loaders.items()
    }
    return task.score(predictions)


def validation_correlation(
    model: TwinModel,
    datasets: Mapping[str, Dataset[Any]],
    batch_size: int,
    device: torch.device,
    env: DistEnv = SINGLE,
    channels_last: bool = False,
) -> tuple[float, dict[str, float]]:
    """Mean per-neuron correlation over every neuron of every recording (the static task).

    Like the 2022 kit: correlations per neuron (NaN counts as 0), stacked across
    recordings, then averaged, so a recording weighs by its number of neurons.

    Parameters
    ----------
    model
        The (unwrapped) model.
    datasets
        ``{recording_key: dataset}`` of the validation tier.
    batch_size
        Trials per batch.
    device
        Where the model lives.
    env
        This process's place (predictions are gathered before correlating).
    channels_last
        Put images in channels-last format.

    Returns
    -------
    score : float
        The mean over all neurons.
    per_recording : dict
        The mean of each recording.
    """
    task = StaticTask()
    predictions = {
        key: gathered_predictions(
            task,
            model,
            dataset,
            epoch_batches(len(dataset), batch_size, seed=0, epoch=0, stream=0, shuffle=False),  # type: ignore[arg-type]
            key,
            device,
            env,
            channels_last,
        )
        for key, dataset in datasets.items()
    }
    return task.score(predictions)
