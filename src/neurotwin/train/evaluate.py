"""The validation score: per-neuron correlation, gathered from every process first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from neurotwin.scoring.metrics import correlation
from neurotwin.train.distributed import DistEnv, all_gather_arrays
from neurotwin.train.predict import run_batches
from neurotwin.train.sampling import epoch_batches, shard

#: A single process.
SINGLE = DistEnv()


def batch_loader(
    dataset: Dataset[Any],
    batches: Sequence[np.ndarray],
    *,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader[Any]:
    """Build a loader that hands the dataset exactly these batches of positions, in order.

    Parameters
    ----------
    dataset
        A dataset that returns a whole batch for a list of positions
        (:class:`neurotwin.data.StaticTrials`).
    batches
        Positions of each batch.
    num_workers, pin_memory
        Passed to :class:`torch.utils.data.DataLoader`.

    Returns
    -------
    torch.utils.data.DataLoader
        Yields one batch per entry of ``batches``.
    """
    return DataLoader(
        dataset,
        sampler=[b.tolist() for b in batches],
        batch_size=None,
        num_workers=num_workers,
        pin_memory=pin_memory,
    )


def gathered_predictions(
    model: nn.Module,
    dataset: Dataset[Any],
    key: str,
    batch_size: int,
    device: torch.device,
    env: DistEnv = SINGLE,
    channels_last: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predict every trial of a dataset, each process a disjoint share of the batches.

    Under distributed training the shares of every process are gathered (variable lengths,
    with their trial indices) and put in file-index order, duplicates dropped, so every
    process ends with the same arrays as a single process would.

    Parameters
    ----------
    model
        The (unwrapped) model.
    dataset
        The trials, with ``responses``.
    key
        The recording's key.
    batch_size
        Trials per batch.
    device
        Where the model lives.
    env
        This process's place.
    channels_last
        Put images in channels-last format.

    Returns
    -------
    index, predictions, responses : numpy.ndarray
        In increasing file-index order.
    """
    batches = epoch_batches(len(dataset), batch_size, seed=0, epoch=0, stream=0, shuffle=False)  # type: ignore[arg-type]
    mine = shard(batches, env.rank, env.world_size, pad=False)
    index, predictions, responses = run_batches(
        model, batch_loader(dataset, mine), key, device, channels_last=channels_last, targets=True
    )
    if env.distributed:
        if responses is None:  # this process had no batch: send empty arrays of the right width
            n = int(dataset[[0]]["responses"].shape[-1])
            predictions = np.zeros((0, n), np.float32)
            responses = np.zeros((0, n), np.float32)
        index = np.concatenate(all_gather_arrays(index, device))
        predictions = np.concatenate(all_gather_arrays(predictions, device))
        responses = np.concatenate(all_gather_arrays(responses, device))
    assert responses is not None
    index, first = np.unique(index, return_index=True)
    return index, predictions[first], responses[first]


def validation_correlation(
    model: nn.Module,
    datasets: Mapping[str, Dataset[Any]],
    batch_size: int,
    device: torch.device,
    env: DistEnv = SINGLE,
    channels_last: bool = False,
) -> tuple[float, dict[str, float]]:
    """Mean per-neuron correlation over every neuron of every recording.

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
    per_neuron = []
    per_recording = {}
    for key, dataset in datasets.items():
        _, predictions, responses = gathered_predictions(
            model, dataset, key, batch_size, device, env, channels_last
        )
        values = correlation(responses, predictions, axis=0)
        per_neuron.append(values)
        per_recording[key] = float(values.mean()) if values.size else 0.0
    return float(np.hstack(per_neuron).mean()), per_recording
