"""Which trials go into which batch: a pure function of (seed, epoch, recording, rank).

Nothing here keeps hidden state between epochs, so a run resumed from a checkpoint after
epoch ``e`` draws exactly the batches an uninterrupted run would have drawn in epoch
``e + 1``.
"""

from __future__ import annotations

import numpy as np


def epoch_seed(*parts: int) -> int:
    """Mix non-negative integers into one 63-bit seed (through :class:`numpy.random.SeedSequence`).

    Parameters
    ----------
    *parts
        For example ``(seed, epoch, rank)``.

    Returns
    -------
    int
        A seed for :func:`torch.manual_seed`.
    """
    state = np.random.SeedSequence([int(p) for p in parts]).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 31 ^ int(state[1])


def epoch_batches(
    n: int, batch_size: int, *, seed: int, epoch: int, stream: int, shuffle: bool = True
) -> list[np.ndarray]:
    """Split positions ``0..n-1`` into the batches of one epoch.

    Parameters
    ----------
    n
        Trials in the dataset.
    batch_size
        Trials per batch; the last batch may be smaller (the kit keeps it).
    seed, epoch, stream
        The permutation is a pure function of these (``stream`` tells recordings apart).
    shuffle
        Permute the positions; otherwise keep them in order.

    Returns
    -------
    list of numpy.ndarray
        The positions of each batch.
    """
    if shuffle:
        order = np.random.default_rng([seed, epoch, stream]).permutation(n)
    else:
        order = np.arange(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def shard(batches: list[np.ndarray], rank: int, world_size: int, *, pad: bool) -> list[np.ndarray]:
    """Give one process its share of an epoch's batches.

    Process ``rank`` takes batches ``rank, rank + world_size, ...``.

    Parameters
    ----------
    batches
        Every batch of the epoch, in order.
    rank, world_size
        This process and the number of processes.
    pad
        Give every process the same number of batches, wrapping around to the first ones
        (training: every process must take the same number of optimiser steps).
        Without it the shares are disjoint and may differ by one (evaluation).

    Returns
    -------
    list of numpy.ndarray
        This process's batches.
    """
    if world_size == 1:
        return list(batches)
    if not pad or not batches:
        return batches[rank::world_size]
    per_rank = -(-len(batches) // world_size)
    return [batches[(rank + world_size * j) % len(batches)] for j in range(per_rank)]
