"""Which trials go into which batch: a pure function of (seed, epoch, recording, rank).

:func:`epoch_batches` (defined beside the loaders, which draw their batches with it) splits
one epoch; :func:`shard` gives one process its share; :func:`epoch_seed` seeds torch's
random draws of an epoch.

Nothing here keeps hidden state between epochs, so a run resumed from a checkpoint after
epoch ``e`` draws exactly the batches an uninterrupted run would have drawn in epoch
``e + 1``.
"""

from __future__ import annotations

import numpy as np

from neurotwin.data.loaders import epoch_batches

__all__ = ["epoch_batches", "epoch_seed", "shard"]


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
