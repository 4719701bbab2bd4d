"""Distributed data parallel plumbing: who am I, start and stop, gather arrays.

``torchrun --nproc_per_node N`` sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; the
trainer reads them, starts the process group (gloo on CPU, NCCL on CUDA) unless one is
already running, and stops it again if it started it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from neurotwin.errors import NeurotwinError


@dataclass(frozen=True)
class DistEnv:
    """The place of one process among the training processes.

    Attributes
    ----------
    world_size
        Number of processes (1: not distributed).
    rank
        This process's number, 0 is the one that writes files.
    local_rank
        Its number on this machine (picks the GPU).
    """

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        """Whether several processes train together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and shows progress."""
        return self.rank == 0

    @classmethod
    def from_environ(cls) -> DistEnv:
        """Read ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` (as ``torchrun`` sets them).

        Returns
        -------
        DistEnv
            ``DistEnv()`` when the variables are absent.
        """
        if dist.is_available() and dist.is_initialized():
            rank = dist.get_rank()
            local = int(os.environ.get("LOCAL_RANK", rank))
            return cls(dist.get_world_size(), rank, local)
        try:
            world = int(os.environ.get("WORLD_SIZE", "1"))
            rank = int(os.environ.get("RANK", "0"))
            local = int(os.environ.get("LOCAL_RANK", str(rank)))
        except ValueError as exc:
            raise NeurotwinError(
                f"WORLD_SIZE, RANK and LOCAL_RANK must be integers: {exc}"
            ) from exc
        if world < 1 or not 0 <= rank < world:
            raise NeurotwinError(f"RANK {rank} does not fit WORLD_SIZE {world}")
        return cls(world, rank, local)


def start(env: DistEnv, device: torch.device) -> bool:
    """Start the process group if training is distributed and none is running.

    Parameters
    ----------
    env
        This process's place.
    device
        The training device: NCCL for CUDA, gloo otherwise.

    Returns
    -------
    bool
        Whether this call started it (and :func:`stop` should end it).
    """
    if not env.distributed or dist.is_initialized():
        return False
    if not dist.is_available():
        raise NeurotwinError("WORLD_SIZE > 1 but this torch has no torch.distributed")
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, rank=env.rank, world_size=env.world_size)
    return True


def stop(started: bool) -> None:
    """End the process group if :func:`start` started it.

    Parameters
    ----------
    started
        What :func:`start` returned.
    """
    if started and dist.is_initialized():
        dist.destroy_process_group()


def _collective_device(device: torch.device) -> torch.device:
    return device if dist.get_backend() == "nccl" else torch.device("cpu")


def all_gather_arrays(array: np.ndarray, device: torch.device) -> list[np.ndarray]:
    """Gather one array of every process; the arrays may differ in their first axis.

    Parameters
    ----------
    array
        This process's array (same dtype and trailing shape on every process).
    device
        The training device (collectives of NCCL need CUDA tensors).

    Returns
    -------
    list of numpy.ndarray
        Every process's array, in rank order.
    """
    where = _collective_device(device)
    world = dist.get_world_size()
    tensor = torch.from_numpy(np.ascontiguousarray(array)).to(where)
    length = torch.tensor([tensor.shape[0]], dtype=torch.int64, device=where)
    lengths = [torch.zeros_like(length) for _ in range(world)]
    dist.all_gather(lengths, length)
    sizes = [int(n.item()) for n in lengths]
    padded = torch.zeros((max(sizes), *tensor.shape[1:]), dtype=tensor.dtype, device=where)
    padded[: tensor.shape[0]] = tensor
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return [p[:n].cpu().numpy() for p, n in zip(parts, sizes, strict=True)]


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """Sum a few numbers over every process.

    Parameters
    ----------
    values
        This process's numbers.
    device
        The training device.

    Returns
    -------
    list of float
        The sums, the same on every process.
    """
    tensor = torch.tensor(values, dtype=torch.float64, device=_collective_device(device))
    dist.all_reduce(tensor)
    return [float(v) for v in tensor.cpu()]


def barrier() -> None:
    """Wait for every process (no-op when not distributed)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
