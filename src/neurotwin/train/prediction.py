"""Run a model over a loader's batches: predictions in file-index order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import numpy as np
import torch

from neurotwin.train import allocator
from neurotwin.train.twin import module_of

if TYPE_CHECKING:
    from neurotwin.models.contract import TwinModel
    from neurotwin.train.tasks import Task

Batch = Mapping[str, torch.Tensor]


def to_device(
    batch: Batch, device: torch.device, channels_last: bool = False
) -> dict[str, torch.Tensor]:
    """Move a batch to the device (``index`` stays where it is).

    Parameters
    ----------
    batch
        A loader's batch.
    device
        Where the model lives.
    channels_last
        Put 4-d ``images`` in channels-last memory format.

    Returns
    -------
    dict
        The batch on the device.
    """
    out = {}
    for name, value in batch.items():
        if name == "index":
            out[name] = value
            continue
        value = value.to(device, non_blocking=True)
        if channels_last and name == "images" and value.dim() == 4:
            value = value.contiguous(memory_format=torch.channels_last)
        out[name] = value
    return out


def run_batches(
    model: TwinModel,
    batches: Iterable[Batch],
    key: str,
    device: torch.device,
    *,
    channels_last: bool = False,
    targets: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Predict every batch in eval mode without gradients, in the order they come.

    The stacking of the static task (:class:`~neurotwin.train.tasks.StaticTask`).

    Parameters
    ----------
    model
        A model following the neurotwin interface (``model(batch, key)``).
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
    index : numpy.ndarray
        ``(N,)`` int64 file indices.
    predictions : numpy.ndarray
        ``(N, n)`` float32.
    responses : numpy.ndarray or None
        ``(N, n)`` float32 when ``targets``.
    """
    module = module_of(model)
    was_training = module.training
    module.eval()
    index, predictions, responses = [], [], []
    try:
        with torch.no_grad():
            for batch in batches:
                on_device = to_device(batch, device, channels_last)
                predictions.append(model(on_device, key).float().cpu().numpy())
                index.append(batch["index"].cpu().numpy().astype(np.int64))
                if targets:
                    responses.append(batch["responses"].float().cpu().numpy())
    finally:
        module.train(was_training)
    if not index:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float32), None
    return (
        np.concatenate(index),
        np.concatenate(predictions),
        np.concatenate(responses) if targets else None,
    )


def predict(
    model: TwinModel,
    loader: Iterable[Batch],
    key: str,
    device: str | torch.device = "cpu",
    task: Task | None = None,
    *,
    keep_freed_memory: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Predict the responses of every trial of a loader.

    The model is moved to ``device``, run in eval mode without gradients, and left in the
    mode it was in. On a CPU, glibc's malloc is first told to keep freed memory for reuse
    (:func:`neurotwin.train.allocator.keep_freed_memory`, as training does): otherwise every
    large activation is mapped and zeroed anew, and predicting the ``live_test_main`` tier
    of a ``benchmark`` video mouse (36 trials) with ``video-dwise-small`` took 87 s
    instead of 39 s on 2 cores (``benchmarks/predict_speed.py``).

    Parameters
    ----------
    model
        A model following the neurotwin interface.
    loader
        Batches of one recording, e.g. ``static_loaders(...)["test"][key]``.
    key
        The recording's key.
    device
        Where to run.
    task
        How the predictions are gathered (:class:`~neurotwin.train.tasks.StaticTask` when
        None).
    keep_freed_memory
        On a CPU, keep freed memory for reuse (the process then holds its peak memory
        until it exits; the setting is per process and stays). Ignored on CUDA and
        without glibc.

    Returns
    -------
    index : numpy.ndarray
        ``(N,)`` int64 file indices, increasing.
    predictions : numpy.ndarray
        ``(N, n_neurons)`` float32, row ``i`` for trial ``index[i]``.
    """
    from neurotwin.train.tasks import StaticTask

    device = torch.device(device)
    if keep_freed_memory and device.type == "cpu":
        allocator.keep_freed_memory()
    model.to(device)
    gathered = (task or StaticTask()).predict(model, loader, key, device)
    order = np.argsort(gathered.index, kind="stable")
    return gathered.index[order], np.ascontiguousarray(gathered.values[order], dtype=np.float32)
