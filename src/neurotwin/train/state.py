"""What a training run holds: early-stopping bookkeeping, stop reasons, the run's attributes.

:class:`RunState` declares the state that the trainer's parts share (the epoch loop in
:mod:`neurotwin.train.trainer`, checkpoint and resume in :mod:`neurotwin.train.resume`, the
time budget in :mod:`neurotwin.train.budget`, the divergence checks in
:mod:`neurotwin.train.divergence`); the trainer's ``_Run`` combines them.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from neurotwin.train.config import TrainConfig
from neurotwin.train.distributed import DistEnv

if TYPE_CHECKING:
    from neurotwin.models.contract import TwinModel
    from neurotwin.train.compiling import CompiledOrEager
    from neurotwin.train.optim import Schedule, WeightAverage
    from neurotwin.train.tasks import Task

#: Stop reasons.
STOP_PATIENCE = "patience"
STOP_MAX_EPOCHS = "max_epochs"
STOP_TIME_LIMIT = "time_limit"

Log = Callable[[str], Any]


@dataclass
class Stopping:
    """Early stopping and decay-step bookkeeping (saved in the checkpoint)."""

    epoch: int = 0
    best_correlation: float = -math.inf
    best_epoch: int = 0
    patience_counter: int = 0
    decay_step: int = 0
    stop_reason: str | None = None


def stop_message(reason: str, config: TrainConfig) -> str:
    """Say why training stopped, in words.

    Parameters
    ----------
    reason
        A stop reason (:data:`STOP_PATIENCE`...).
    config
        The recipe.

    Returns
    -------
    str
        E.g. ``"reached max_epochs (200)"``.
    """
    if reason == STOP_PATIENCE:
        return (
            f"no improvement for {config.patience} epochs after {config.lr_decay_steps} decay steps"
        )
    if reason == STOP_TIME_LIMIT:
        return f"the next epoch would not end within the time limit ({config.time_limit:.0f} s)"
    return f"reached max_epochs ({config.max_epochs})"


def cpu_copy(module: nn.Module) -> dict[str, torch.Tensor]:
    """Return a copy of a module's weights on the CPU.

    Parameters
    ----------
    module
        The module.

    Returns
    -------
    dict
        Its state dict, copied.
    """
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


class RunState(abc.ABC):
    """The attributes of one training run (set by the trainer's ``_Run``)."""

    model: TwinModel
    module: nn.Module
    train_loaders: dict[str, DataLoader[Any]]
    val_loaders: dict[str, DataLoader[Any]]
    task: Task
    config: TrainConfig
    out: Path | None
    env: DistEnv
    device: torch.device
    log: Log
    stopping: Stopping
    history: list[dict[str, Any]]
    best_state: dict[str, torch.Tensor]
    last_score: float | None
    started: float
    validation_seconds: float
    compile_seconds: float | None
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    ema: WeightAverage | None
    net: Callable[..., torch.Tensor] | CompiledOrEager

    @abc.abstractmethod
    def now(self) -> float:
        """Return the trainer's clock, in seconds (:func:`time.perf_counter`)."""

    @property
    def checkpoint_path(self) -> Path | None:
        """``out/checkpoint.pt``, or None without a run folder."""
        from neurotwin.train.checkpoint import CHECKPOINT

        return self.out / CHECKPOINT if self.out is not None else None

    def _limit(self) -> float | None:
        """Return the time limit less the reserve kept for after training, in seconds."""
        limit = self.config.time_limit
        if limit is None:
            return None
        return limit - self.config.reserve_validations * self.validation_seconds

    def _kept(self) -> str:
        """Say which checkpoint a failed run leaves."""
        path = self.checkpoint_path
        if path is None:
            return "No checkpoint was written (no run folder)."
        return f"The last good checkpoint ({path}, after epoch {self.stopping.epoch}) was kept."

    def best_weights(self) -> dict[str, torch.Tensor]:
        """Return a CPU copy of the weights that count: the average when kept, else the model's."""
        return self.ema.state_dict() if self.ema is not None else cpu_copy(self.module)

    def load_weights(self, state: dict[str, torch.Tensor]) -> None:
        """Put weights in the model (and restart the average there, when one is kept)."""
        self.module.load_state_dict(state)
        if self.ema is not None:
            self.ema.reset()
