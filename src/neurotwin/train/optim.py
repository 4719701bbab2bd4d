"""Optimisers, learning-rate schedules and weight averages, chosen by name.

- :data:`OPTIMIZERS`: ``"adam"`` (the 2022 kit's) and ``"adamw"`` (decoupled weight decay).
- :data:`SCHEDULES`: ``"plateau"`` (the kit's: the rate times ``lr_decay_factor`` when the
  validation score has not improved for ``patience`` epochs, never below ``min_lr``) and
  ``"cosine"`` (a linear warm-up over ``warmup_epochs`` from a 100th of ``lr``, then a cosine
  decay to ``min_lr`` at ``max_epochs``, updated after every optimiser step).
- :class:`WeightAverage`: an exponential moving average of the weights (``ema_decay``,
  warmed up over the first steps), which the trainer then validates, keeps as the best
  weights and saves.

The defaults (``adam``, ``plateau``, no average) reproduce the kit's recipe exactly; AdamW
with warm-up and cosine decay plus an average of the weights is the usual recipe of video
models. :func:`make_optimizer` and :func:`make_schedule` refuse an unknown name, listing the
known ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import torch
from torch import nn

from neurotwin.errors import NeurotwinError
from neurotwin.train.config import SCHEDULE_NAMES, TrainConfig

#: Optimisers by name: each builds one from the parameters and the recipe.
OPTIMIZERS: dict[str, Callable[[Iterable[nn.Parameter], TrainConfig], torch.optim.Optimizer]] = {
    "adam": lambda params, c: torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay),
    "adamw": lambda params, c: torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay),
}
#: The cosine schedule's warm-up starts at this fraction of ``lr``.
WARMUP_START = 0.01


def make_optimizer(params: Iterable[nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    """Build the recipe's optimiser (``config.optimizer``).

    Parameters
    ----------
    params
        The parameters to train.
    config
        The recipe (``optimizer``, ``lr``, ``weight_decay``).

    Returns
    -------
    torch.optim.Optimizer
        The optimiser.

    Raises
    ------
    NeurotwinError
        For an unknown name, listing the known ones.
    """
    if config.optimizer not in OPTIMIZERS:
        raise NeurotwinError(
            f"unknown optimizer {config.optimizer!r}; known: {', '.join(OPTIMIZERS)}"
        )
    return OPTIMIZERS[config.optimizer](params, config)


class Schedule(Protocol):
    """A learning-rate schedule as the trainer drives it."""

    def after_step(self) -> None:
        """Update after every optimiser step."""

    def after_epoch(self, score: float) -> None:
        """Update after every epoch, given its validation score."""

    def state_dict(self) -> dict[str, Any]:
        """Return the state a checkpoint saves."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a saved state."""


class PlateauSchedule:
    """The kit's decay on plateau (:class:`torch.optim.lr_scheduler.ReduceLROnPlateau`).

    Parameters
    ----------
    optimizer
        The optimiser.
    config
        ``lr_decay_factor``, ``patience``, ``tolerance`` (absolute) and ``min_lr``.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, config: TrainConfig) -> None:
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode="max",
            factor=config.lr_decay_factor,
            patience=config.patience,
            threshold=config.tolerance,
            threshold_mode="abs",
            min_lr=config.min_lr,
        )

    def after_step(self) -> None:
        """Nothing: the rate changes between epochs only."""

    def after_epoch(self, score: float) -> None:
        """Lower the rate when the score has stopped improving."""
        self.scheduler.step(score)

    def state_dict(self) -> dict[str, Any]:
        """Return the scheduler's state (what checkpoints of version 1 hold)."""
        return self.scheduler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the scheduler's state."""
        self.scheduler.load_state_dict(state)


class CosineSchedule:
    """Linear warm-up, then cosine decay to ``min_lr``, updated after every optimiser step.

    Parameters
    ----------
    optimizer
        The optimiser (its rate is ``config.lr`` at the end of the warm-up).
    config
        ``lr``, ``min_lr``, ``warmup_epochs`` and ``max_epochs``.
    steps_per_epoch
        Optimiser steps in an epoch.
    """

    def __init__(
        self, optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int
    ) -> None:
        warmup = config.warmup_epochs * steps_per_epoch
        total = max(config.max_epochs * steps_per_epoch, warmup + 1)
        floor = min(config.min_lr / config.lr, 1.0)

        def factor(step: int) -> float:
            if step < warmup:
                return WARMUP_START + (1 - WARMUP_START) * step / warmup
            progress = min((step - warmup) / (total - warmup), 1.0)
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

        self.scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

    def after_step(self) -> None:
        """Move the rate one step along the curve."""
        self.scheduler.step()

    def after_epoch(self, score: float) -> None:
        """Nothing: the curve does not depend on the score."""

    def state_dict(self) -> dict[str, Any]:
        """Return the step count (the curve itself is rebuilt from the recipe)."""
        return {"last_epoch": self.scheduler.last_epoch, "base_lrs": self.scheduler.base_lrs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the step count."""
        self.scheduler.last_epoch = int(state["last_epoch"])
        self.scheduler.base_lrs = list(state["base_lrs"])


def make_schedule(
    optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int
) -> Schedule:
    """Build the recipe's learning-rate schedule (``config.schedule``).

    Parameters
    ----------
    optimizer
        The optimiser.
    config
        The recipe.
    steps_per_epoch
        Optimiser steps in an epoch (for schedules that move after every step).

    Returns
    -------
    Schedule
        The schedule.

    Raises
    ------
    NeurotwinError
        For an unknown name, listing the known ones.
    """
    if config.schedule == "plateau":
        return PlateauSchedule(optimizer, config)
    if config.schedule == "cosine":
        return CosineSchedule(optimizer, config, steps_per_epoch)
    raise NeurotwinError(
        f"unknown schedule {config.schedule!r}; known: {', '.join(SCHEDULE_NAMES)}"
    )


#: An update count past any warm-up: what a checkpoint saved before the warm-up existed
#: resumes with (its average had none).
EMA_WARMED_UP = 10**12


class WeightAverage:
    """An exponential moving average of a module's weights (floating-point state), warmed up.

    After optimiser step ``n`` (counting from 0),
    ``average = d * average + (1 - d) * weights`` with ``d = min(decay, (1 + n) / (10 + n))``:
    the warm-up of TensorFlow's ``ExponentialMovingAverage`` (its ``num_updates``), so the
    average forgets the initial weights within a few steps instead of over ``1 / (1 -
    decay)`` of them. Without it an average of decay 0.99 still held a third of the random
    start after 100 steps, and on a run of 300 steps it scored well below the live weights
    (``docs/video-models.md``). ``d`` reaches ``decay`` after ``(10 decay - 1) / (1 -
    decay)`` steps (890 for 0.99, 8,990 for 0.999). Batch-norm running statistics are
    averaged like the weights; other buffers (counters) are copied. :meth:`applied` swaps the
    average into the module for a validation pass.

    Parameters
    ----------
    module
        The module whose weights are averaged (the average starts at its weights).
    decay
        Weight of the past once warmed up, in (0, 1).

    Attributes
    ----------
    updates : int
        Optimiser steps folded in since the start or the last :meth:`reset` (checkpoints
        save it beside the average).
    """

    def __init__(self, module: nn.Module, decay: float) -> None:
        self.module = module
        self.decay = decay
        self.average = {k: v.detach().clone() for k, v in module.state_dict().items()}
        self.updates = 0

    def current_decay(self) -> float:
        """Return the decay the next :meth:`update` applies (the warm-up's, or ``decay``)."""
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self) -> None:
        """Fold the module's current weights into the average."""
        decay = self.current_decay()
        for name, value in self.module.state_dict().items():
            kept = self.average[name]
            if kept.is_floating_point():
                kept.mul_(decay).add_(value.detach(), alpha=1 - decay)
            else:
                kept.copy_(value)
        self.updates += 1

    def reset(self) -> None:
        """Restart the average, and its warm-up, at the module's current weights."""
        self.average = {k: v.detach().clone() for k, v in self.module.state_dict().items()}
        self.updates = 0

    @contextmanager
    def applied(self) -> Iterator[None]:
        """Hold the average in the module inside the block; its weights return after it."""
        weights = {k: v.detach().clone() for k, v in self.module.state_dict().items()}
        self.module.load_state_dict(self.average)
        try:
            yield
        finally:
            self.module.load_state_dict(weights)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Return the average on the CPU (what a checkpoint saves, and a model file holds)."""
        return {k: v.detach().to("cpu", copy=True) for k, v in self.average.items()}

    def load_state_dict(self, state: dict[str, torch.Tensor], updates: int) -> None:
        """Restore a saved average (onto the module's devices) and its count of steps."""
        current = self.module.state_dict()
        self.average = {k: v.to(current[k].device, copy=True) for k, v in state.items()}
        self.updates = updates


#: Named recipes: the fields of :class:`~neurotwin.train.config.TrainConfig` each sets.
#: ``"dwise"`` is the SENSORIUM 2023 winner's (``shared/spec/video-models.md``): AdamW
#: (weight decay 0.05) at 2.4e-3 for batches of 32, 3 epochs of linear warm-up then cosine
#: decay to a 100th of the rate at epoch 21, an EMA of the weights (decay 0.999) validated
#: and saved, CutMix within a mouse (alpha 1, probability 0.5), the Poisson loss summed
#: without the kit's scale, bf16 autocast on CUDA and channels-last-3d. The schedule runs to
#: the end: patience is the whole run, one decay step stops it.
RECIPES: dict[str, dict[str, Any]] = {
    "dwise": {
        "optimizer": "adamw",
        "lr": 2.4e-3,
        "weight_decay": 0.05,
        "schedule": "cosine",
        "warmup_epochs": 3,
        "max_epochs": 21,
        "min_lr": 2.4e-5,
        "ema_decay": 0.999,
        "cutmix_prob": 0.5,
        "cutmix_alpha": 1.0,
        "batch_size": 32,
        "scale_loss": False,
        "patience": 21,
        "lr_decay_steps": 1,
        "bf16": True,
        "channels_last": False,
        "channels_last_3d": True,
    },
}
#: The recipe's rate per trial of a batch: the winner scaled 3e-4 per 4 trials linearly.
DWISE_LR_PER_TRIAL = 7.5e-5


def recipe(name: str, **overrides: Any) -> TrainConfig:
    """Return a named recipe (:data:`RECIPES`) as a config, with some fields changed.

    Parameters
    ----------
    name
        ``"dwise"``.
    **overrides
        Fields of :class:`~neurotwin.train.config.TrainConfig` to change. For ``"dwise"``,
        a ``batch_size`` without an ``lr`` scales the rate linearly (7.5e-5 per trial) and
        ``min_lr`` with it; a ``max_epochs`` without a ``patience`` keeps the schedule to the
        end; ``warmup_epochs`` is capped below ``max_epochs``.

    Returns
    -------
    TrainConfig
        The recipe.

    Raises
    ------
    NeurotwinError
        An unknown recipe (listing the known ones) or field.
    """
    if name not in RECIPES:
        raise NeurotwinError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}")
    values = dict(RECIPES[name])
    if name == "dwise":
        if "batch_size" in overrides and "lr" not in overrides:
            values["lr"] = DWISE_LR_PER_TRIAL * int(overrides["batch_size"])
        values["min_lr"] = values["lr"] / 100
        if "lr" in overrides and "min_lr" not in overrides:
            values["min_lr"] = float(overrides["lr"]) / 100
        if "max_epochs" in overrides and "patience" not in overrides:
            values["patience"] = int(overrides["max_epochs"])
        epochs = int(overrides.get("max_epochs", values["max_epochs"]))
        if "warmup_epochs" not in overrides:
            values["warmup_epochs"] = min(values["warmup_epochs"], max(epochs - 1, 0))
    return TrainConfig().replace(**{**values, **overrides, "recipe": "given"})
