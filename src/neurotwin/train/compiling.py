"""The compile decision: :func:`torch.compile` when it pays, eager mode when it fails."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from neurotwin.train.state import RunState

#: What ``compile="auto"`` assumes of :func:`torch.compile` on a CPU (measured on 2 cores with
#: the demo mouse: 36 s an eager epoch, 24 s compiled, a minute or more to compile): an epoch
#: takes this fraction of its eager time ...
COMPILED_EPOCH_FRACTION = 2 / 3
#: ... and compiling costs this many eager epochs, at least :data:`MIN_COMPILE_SECONDS`.
COMPILE_EPOCHS = 2.0
MIN_COMPILE_SECONDS = 60.0

Log = Callable[[str], Any]


def compile_cost(epoch_seconds: float) -> float:
    """Return the assumed seconds of compiling, for an eager epoch of ``epoch_seconds``.

    Parameters
    ----------
    epoch_seconds
        Time of an eager epoch, in seconds.

    Returns
    -------
    float
        ``max(COMPILE_EPOCHS * epoch_seconds, MIN_COMPILE_SECONDS)``.
    """
    return max(COMPILE_EPOCHS * epoch_seconds, MIN_COMPILE_SECONDS)


def compile_pays(epoch_seconds: float, seconds_left: float) -> bool:
    """Decide whether compiling now gives more epochs within the time left than eager mode.

    The rule behind ``TrainConfig(compile="auto")``: with ``E`` the measured eager epoch
    time, compiling is assumed to cost ``max(COMPILE_EPOCHS * E, MIN_COMPILE_SECONDS)`` and
    to make every later epoch take ``COMPILED_EPOCH_FRACTION * E`` (measured on 2 CPU cores:
    36 s an eager epoch, 24 s compiled, a minute or more to compile). Compiling pays when
    the epochs that then fit in ``seconds_left`` outnumber the eager ones.

    Parameters
    ----------
    epoch_seconds
        Time of an eager epoch (training and validation), in seconds.
    seconds_left
        Time left in the budget, in seconds.

    Returns
    -------
    bool
        True when compiling is expected to leave time for more epochs.
    """
    if epoch_seconds <= 0:
        return False
    cost = compile_cost(epoch_seconds)
    eager = math.floor(seconds_left / epoch_seconds)
    compiled = math.floor(max(seconds_left - cost, 0.0) / (COMPILED_EPOCH_FRACTION * epoch_seconds))
    return compiled > eager


def auto_compile_message(epoch_seconds: float, seconds_left: float) -> tuple[bool, str]:
    """Return whether ``compile="auto"`` compiles now, and the line that says so.

    Parameters
    ----------
    epoch_seconds
        Time of the first (eager) epoch, in seconds.
    seconds_left
        Time left in the budget, in seconds.

    Returns
    -------
    tuple
        ``(compile, message)``.
    """
    if compile_pays(epoch_seconds, seconds_left):
        return (
            True,
            f"compiling pays for the {seconds_left:.0f} s left: compiling from the next epoch",
        )
    return False, (
        f"not compiling: at {epoch_seconds:.1f} s an epoch, compiling would not leave "
        f"time for more epochs in the {seconds_left:.0f} s left"
    )


class CompiledOrEager:
    """Call ``torch.compile(net)``; if compiling fails (no C++ compiler...), run eagerly.

    A model error raised inside the compiled call is raised again by the eager call, so
    only a failure of the compiler itself changes anything: one warning, then eager mode.

    Parameters
    ----------
    net
        The module to compile.
    log
        Where the warning goes.
    """

    def __init__(self, net: Callable[..., torch.Tensor], log: Log) -> None:
        self.eager = net
        self.compiled: Callable[..., torch.Tensor] | None = torch.compile(net)
        self.log = log
        #: Seconds of the first training batch, compilation included (set by the trainer);
        #: None before it.
        self.compile_seconds: float | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        """Run the compiled module, or the eager one once compiling has failed."""
        if self.compiled is not None:
            try:
                return self.compiled(*args, **kwargs)
            except Exception as exc:
                self.compiled = None
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                self.log(f"torch.compile failed ({first[:200]}); training without compiling")
        return self.eager(*args, **kwargs)


class CompileDecision(RunState):
    """Wrapping the model for DDP and compiling it (part of the trainer's ``_Run``)."""

    ddp: nn.parallel.DistributedDataParallel | None
    eager_net: Callable[..., torch.Tensor]
    compile_decided: bool

    def _wrap(self) -> None:
        self.ddp: nn.parallel.DistributedDataParallel | None = None
        net: nn.Module = self.module
        if self.env.distributed:
            self.ddp = nn.parallel.DistributedDataParallel(
                self.module,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=True,  # readouts of the other recordings sit idle
            )
            net = self.ddp
        self.eager_net: Callable[..., torch.Tensor] = net
        self.net = CompiledOrEager(net, self.log) if self.config.compile is True else net
        self.compile_decided = self.config.compile != "auto"

    def _decide_compile(self, epoch_seconds: float) -> None:
        """Under ``compile="auto"``, after the first epoch of this call: compile or not."""
        if self.compile_decided:
            return
        self.compile_decided = True
        limit = self._limit()
        if limit is None:
            self.net = CompiledOrEager(self.eager_net, self.log)
            return
        left = limit - (self.now() - self.started)
        compiling, message = auto_compile_message(epoch_seconds, left)
        self.log(message)
        if compiling:
            self.net = CompiledOrEager(self.eager_net, self.log)

    def _compiled(self, seconds: float) -> None:
        """Record the first compiled batch (forward and backward compilation included)."""
        assert isinstance(self.net, CompiledOrEager)
        self.net.compile_seconds = self.compile_seconds = seconds
        if self.net.compiled is not None:
            self.log(f"compiled in {seconds:.0f} s (the first batch included)")
