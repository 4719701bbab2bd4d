"""The training loop: the 2022 kit's recipe, resumable exactly, single process or DDP.

One epoch interleaves one batch of every recording at a time (shorter recordings start
over, as :class:`neurotwin.data.Interleaved` does) and takes one optimiser step per round
(the gradient of one batch of each recording, as the kit accumulates it). The objective of
a batch is the Poisson loss, scaled by ``sqrt(n_train / batch_size)``, plus the model's
regulariser for that recording.

Exact resume: the batches of epoch ``e`` and the torch random state during it are pure
functions of ``(seed, e, recording, rank)``, and the checkpoint written after every epoch
holds everything else that evolves (weights, Adam, scheduler, early stopping, best weights,
history). A run resumed after epoch ``e`` therefore ends with the same weights as one that
was never interrupted.

Distributed: under ``torchrun`` every process trains on a disjoint share of each epoch's
batches (gradients averaged by DDP); the validation predictions of all processes are
gathered before correlating, so every process computes the single-process score and takes
the same early-stopping decisions; only rank 0 writes files and shows progress.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import shlex
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset

from neurotwin import __version__
from neurotwin.data.cache import RecordingCache
from neurotwin.data.loaders import Interleaved
from neurotwin.errors import NeurotwinError
from neurotwin.progress import progress_bar
from neurotwin.train import checkpoint as files
from neurotwin.train.config import TRAJECTORY_FIELDS, TrainConfig, resolve_device
from neurotwin.train.distributed import DistEnv, all_reduce_sum, barrier, start, stop
from neurotwin.train.evaluate import batch_loader, validation_correlation
from neurotwin.train.lock import RunLock
from neurotwin.train.losses import loss_scale, poisson_loss
from neurotwin.train.predict import to_device
from neurotwin.train.sampling import epoch_batches, epoch_seed, shard

#: Stop reasons.
STOP_PATIENCE = "patience"
STOP_MAX_EPOCHS = "max_epochs"
STOP_TIME_LIMIT = "time_limit"

#: What ``compile="auto"`` assumes of :func:`torch.compile` on a CPU (measured on 2 cores with
#: the demo mouse: 36 s an eager epoch, 24 s compiled, a minute or more to compile): an epoch
#: takes this fraction of its eager time ...
COMPILED_EPOCH_FRACTION = 2 / 3
#: ... and compiling costs this many eager epochs, at least :data:`MIN_COMPILE_SECONDS`.
COMPILE_EPOCHS = 2.0
MIN_COMPILE_SECONDS = 60.0

Log = Callable[[str], Any]


class _OutOfTime(Exception):
    """The epoch under way would end after the time limit.

    ``args``: the message, the projected seconds of the whole epoch, the batches done.
    """


class TrainingDiverged(NeurotwinError):
    """The loss or the weights became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    model
        The trained model, best weights restored.
    best_epoch
        Epoch of the best validation correlation (0: the untrained model).
    best_correlation
        Best mean per-neuron validation correlation.
    history
        One dict per epoch (what ``metrics.jsonl`` holds), epoch 0 first.
    stop_reason
        ``"patience"`` (no improvement after every decay step), ``"max_epochs"`` or
        ``"time_limit"`` (the next epoch would not have ended within ``config.time_limit``).
    out
        The run folder, if any.
    """

    model: nn.Module
    best_epoch: int
    best_correlation: float
    history: list[dict[str, Any]]
    stop_reason: str
    out: Path | None = None


@dataclass
class _Stopping:
    """Early stopping and decay-step bookkeeping (saved in the checkpoint)."""

    epoch: int = 0
    best_correlation: float = -math.inf
    best_epoch: int = 0
    patience_counter: int = 0
    decay_step: int = 0
    stop_reason: str | None = None


def train(
    model: nn.Module,
    loaders: Mapping[str, Mapping[str, DataLoader[Any]]],
    config: TrainConfig | None = None,
    out: str | os.PathLike[str] | None = None,
    resume: bool = True,
    log: Log | None = print,
) -> TrainResult:
    """Train a model on the ``train`` tier, early-stopping on the ``validation`` tier.

    Parameters
    ----------
    model
        A neurotwin model: ``model(batch, key)`` gives positive ``(B, n)`` predictions and
        ``model.regularizer(key)`` a scalar. Trained in place.
    loaders
        ``{tier: {recording_key: DataLoader}}`` from :func:`neurotwin.data.static_loaders`;
        the datasets of ``train`` and ``validation`` are used (the trainer draws its own
        batches of ``config.batch_size`` from them, so shuffling is reproducible).
    config
        The recipe; :class:`TrainConfig` defaults when None.
    out
        Run folder for ``config.json``, ``metrics.jsonl``, ``checkpoint.pt`` (after every
        epoch) and ``model.pt`` (best weights, at the end). None writes nothing.
    resume
        Continue from ``out/checkpoint.pt`` when it exists (a finished run returns at
        once); False starts over.
    log
        Called with one line per epoch (None: silent).

    Returns
    -------
    TrainResult
        The model with its best weights, the best epoch and score, the history.

    Raises
    ------
    TrainingDiverged
        When the loss or the weights become NaN or infinite; ``out/checkpoint.pt`` still
        holds the last good epoch.
    NeurotwinError
        For loaders without the tiers needed, a device that does not exist, or a checkpoint
        that does not fit the model or the config.
    """
    config = config or TrainConfig()
    env = DistEnv.from_environ()
    device = resolve_device(config.device, env.local_rank if env.distributed else None)
    train_sets, val_sets = _datasets(model, loaders)
    workers = {key: int(loader.num_workers) for key, loader in loaders["train"].items()}
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    say: Log = log if log is not None and env.is_main else _silent  # rank 0 speaks
    run = _Run(model, train_sets, val_sets, workers, config, out, env, device, say)
    lock: contextlib.AbstractContextManager[Any] = (
        RunLock(out) if out is not None and env.is_main else contextlib.nullcontext()
    )
    with lock:
        started = start(env, device)
        try:
            return run.run(resume)
        finally:
            stop(started)


def _silent(message: str) -> None:
    return None


def _datasets(
    model: nn.Module, loaders: Mapping[str, Mapping[str, DataLoader[Any]]]
) -> tuple[dict[str, Dataset[Any]], dict[str, Dataset[Any]]]:
    missing = [t for t in ("train", "validation") if not loaders.get(t)]
    if missing:
        raise NeurotwinError(
            f"the loaders have no {' or '.join(missing)} tier "
            f"(tiers: {', '.join(loaders) or 'none'})"
        )
    keys = getattr(model, "keys", None)
    sets: list[dict[str, Dataset[Any]]] = []
    for tier in ("train", "validation"):
        tier_sets = {}
        for key, loader in loaders[tier].items():
            if keys is not None and key not in keys:
                raise NeurotwinError(
                    f"the {tier} loaders hold recording {key!r} but the model has no readout "
                    f"for it (model keys: {', '.join(keys)})"
                )
            dataset = loader.dataset
            fields = getattr(dataset, "fields", ("responses",))
            if "responses" not in fields:
                raise NeurotwinError(
                    f"the {tier} tier of recording {key!r} has no responses (withheld?)"
                )
            tier_sets[key] = dataset
        sets.append(tier_sets)
    return sets[0], sets[1]


def _trials(sets: dict[str, Dataset[Any]]) -> int:
    return sum(len(d) for d in sets.values())  # type: ignore[arg-type,misc]


def _cpu_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _non_finite_fields(batch: Mapping[str, torch.Tensor]) -> list[str]:
    """Return the fields of a batch that hold NaN or infinite values (padding is zero)."""
    return [
        name
        for name, value in batch.items()
        if isinstance(value, torch.Tensor)
        and value.is_floating_point()
        and not bool(torch.isfinite(value).all())
    ]


def _stop_message(reason: str, config: TrainConfig) -> str:
    if reason == STOP_PATIENCE:
        return (
            f"no improvement for {config.patience} epochs after {config.lr_decay_steps} decay steps"
        )
    if reason == STOP_TIME_LIMIT:
        return f"the next epoch would not end within the time limit ({config.time_limit:.0f} s)"
    return f"reached max_epochs ({config.max_epochs})"


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
    cost = max(COMPILE_EPOCHS * epoch_seconds, MIN_COMPILE_SECONDS)
    eager = math.floor(seconds_left / epoch_seconds)
    compiled = math.floor(max(seconds_left - cost, 0.0) / (COMPILED_EPOCH_FRACTION * epoch_seconds))
    return compiled > eager


class _Run:
    """One training run: the state that a checkpoint saves and the loop over epochs."""

    def __init__(
        self,
        model: nn.Module,
        train_sets: dict[str, Dataset[Any]],
        val_sets: dict[str, Dataset[Any]],
        workers: dict[str, int],
        config: TrainConfig,
        out: str | os.PathLike[str] | None,
        env: DistEnv,
        device: torch.device,
        log: Log,
    ) -> None:
        self.model = model
        self.train_sets = train_sets
        self.val_sets = val_sets
        self.workers = workers
        self.config = config
        self.out = Path(out) if out is not None else None
        self.env = env
        self.device = device
        self.log = log
        self.stopping = _Stopping()
        self.history: list[dict[str, Any]] = []
        self.best_state: dict[str, torch.Tensor] = {}
        self.last_score: float | None = None
        self.started = time.perf_counter()
        self.validation_seconds = 0.0
        self.compile_seconds: float | None = None  # of the epoch under way

    # ------------------------------------------------------------------ setup
    def _build(self) -> None:
        config = self.config
        self.model.to(self.device)
        if config.channels_last:
            self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer,
            mode="max",
            factor=config.lr_decay_factor,
            patience=config.patience,
            threshold=config.tolerance,
            threshold_mode="abs",
            min_lr=config.min_lr,
        )

    def _wrap(self) -> None:
        self.ddp: nn.parallel.DistributedDataParallel | None = None
        net: nn.Module = self.model
        if self.env.distributed:
            self.ddp = nn.parallel.DistributedDataParallel(
                self.model,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=True,  # readouts of the other recordings sit idle
            )
            net = self.ddp
        self.eager_net: Callable[..., torch.Tensor] = net
        self.net: Callable[..., torch.Tensor] = (
            CompiledOrEager(net, self.log) if self.config.compile is True else net
        )
        self.compile_decided = self.config.compile != "auto"

    def _decide_compile(self, epoch_seconds: float) -> None:
        """Under ``compile="auto"``, after the first epoch of this call: compile or not."""
        if self.compile_decided:
            return
        self.compile_decided = True
        if self.config.compile != "auto":
            return
        limit = self._limit()
        if limit is None:
            self.net = CompiledOrEager(self.eager_net, self.log)
            return
        left = limit - (time.perf_counter() - self.started)
        if compile_pays(epoch_seconds, left):
            self.log(f"compiling pays for the {left:.0f} s left: compiling from the next epoch")
            self.net = CompiledOrEager(self.eager_net, self.log)
        else:
            self.log(
                f"not compiling: at {epoch_seconds:.1f} s an epoch, compiling would not leave "
                f"time for more epochs in the {left:.0f} s left"
            )

    @property
    def checkpoint_path(self) -> Path | None:
        return self.out / files.CHECKPOINT if self.out is not None else None

    # ------------------------------------------------------------------ main
    def run(self, resume: bool) -> TrainResult:
        self.started = time.perf_counter()
        self._build()
        path = self.checkpoint_path
        resumed = resume and path is not None and path.exists()
        if resumed:
            assert path is not None
            self._restore(path)
        self._wrap()
        if not resumed:
            self._start()
        try:
            while self.stopping.stop_reason is None:
                self._epoch()
        except KeyboardInterrupt:
            self._save_interrupted()
            raise
        return self._finish()

    def _save_interrupted(self) -> None:
        """After Ctrl-C: write the best weights so far to ``model.pt``, then stop."""
        if self.out is None or not self.env.is_main or not self.best_state:
            return
        self.model.load_state_dict(self.best_state)
        files.save_best(self.model, self.out / files.MODEL)
        self.log(
            f"interrupted: the best weights so far (epoch {self.stopping.best_epoch}, validation "
            f"correlation {self.stopping.best_correlation:.4f}) are in {self.out / files.MODEL}; "
            "run the same command again to resume from the checkpoint"
        )

    def _start(self) -> None:
        """Score the untrained model (epoch 0): the first best, as in the kit."""
        start_time = time.perf_counter()
        score, per_recording = self._validate()
        self.validation_seconds = time.perf_counter() - start_time
        self.stopping.best_correlation = score
        self.best_state = _cpu_copy(self.model)
        entry = self._entry(0, None, score, per_recording, start_time, restored=False)
        self.history = [entry]
        if self.out is not None and self.env.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / files.MODEL).unlink(missing_ok=True)  # a previous run's, if any
            files.write_json(
                self.out / files.CONFIG,
                {
                    "neurotwin": __version__,
                    "model": files.model_description(self.model),
                    "train": self.config.to_dict(),
                    "world_size": self.env.world_size,
                },
            )
            files.write_metrics(self.out / files.METRICS, self.history)
        self._save()
        self.log(f"epoch   0  validation correlation {score:.4f} (untrained)")

    def _epoch(self) -> None:
        config, stopping = self.config, self.stopping
        epoch = stopping.epoch + 1
        start_time = time.perf_counter()
        lr = float(self.optimizer.param_groups[0]["lr"])
        self.compile_seconds = None
        late = self._late_to_start()
        if late is not None:
            self._abandon(epoch, *late, start_time)
            return
        try:
            loss = self._train_epoch(epoch)
        except _OutOfTime as exc:
            why, projected, batches = exc.args
            self._abandon(epoch, why, projected, batches, start_time)
            return
        self._check_weights(epoch)
        validation_start = time.perf_counter()
        score, per_recording = self._validate()
        self.validation_seconds = time.perf_counter() - validation_start
        self.last_score = score
        self.scheduler.step(score)
        if score > stopping.best_correlation + config.tolerance:
            stopping.best_correlation, stopping.best_epoch = score, epoch
            stopping.patience_counter = 0
            self.best_state = _cpu_copy(self.model)
        else:
            stopping.patience_counter += 1
        restored = False
        compile_seconds = self.compile_seconds
        if epoch >= config.max_epochs:
            stopping.stop_reason = STOP_MAX_EPOCHS
        elif stopping.patience_counter >= config.patience:
            # a decay step: back to the best weights (the scheduler lowers the rate)
            self.model.load_state_dict(self.best_state)
            stopping.decay_step += 1
            stopping.patience_counter = 0
            restored = True
            if stopping.decay_step >= config.lr_decay_steps:
                stopping.stop_reason = STOP_PATIENCE
        if stopping.stop_reason is None:
            self._decide_compile(time.perf_counter() - start_time)
            if self._out_of_time(start_time, compile_seconds):
                stopping.stop_reason = STOP_TIME_LIMIT
        stopping.epoch = epoch
        entry = self._entry(epoch, loss, score, per_recording, start_time, restored, lr)
        entry["compile_seconds"] = compile_seconds
        self.history.append(entry)
        self._save()
        if self.out is not None and self.env.is_main:
            files.append_metrics(self.out / files.METRICS, entry)
        mark = " *" if stopping.best_epoch == epoch else ""
        self.log(
            f"epoch {epoch:3d}  loss {loss:.5g}  validation correlation {score:.4f}{mark}  "
            f"lr {lr:.3g}  {entry['seconds']:.1f}s"
            + ("  (best weights restored)" if restored else "")
        )

    def _limit(self) -> float | None:
        """Return the time limit less the reserve kept for after training, in seconds."""
        limit = self.config.time_limit
        if limit is None:
            return None
        return limit - self.config.reserve_validations * self.validation_seconds

    def _compiled(self, seconds: float) -> None:
        """Record the first compiled batch (forward and backward compilation included)."""
        assert isinstance(self.net, CompiledOrEager)
        self.net.compile_seconds = self.compile_seconds = seconds
        if self.net.compiled is not None:
            self.log(f"compiled in {seconds:.0f} s (the first batch included)")

    def _abandon(
        self, epoch: int, why: str, projected: float, batches: int, start_time: float
    ) -> None:
        """Stop inside an epoch that would end late: back to the last epoch's state.

        The model, optimiser, scheduler and random state return to the checkpoint of the
        last finished epoch (the best weights, without a run folder), which then records
        the stop, so the run's files stay those of whole epochs.
        """
        path = self.checkpoint_path
        if path is not None and path.exists():
            state = files.load_checkpoint(path)
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            torch.set_rng_state(state["rng"])
        else:
            self.model.load_state_dict(self.best_state)
        self.stopping.stop_reason = STOP_TIME_LIMIT
        self.history[-1]["stop_reason"] = STOP_TIME_LIMIT
        self.history[-1]["abandoned_epoch_seconds"] = projected
        self.history[-1]["abandoned_after_batches"] = batches
        self.history[-1]["abandoned_epoch_start"] = start_time - self.started
        self._save()
        if self.out is not None and self.env.is_main:
            files.write_metrics(self.out / files.METRICS, self.history)
        self.log(f"epoch {epoch:3d}  abandoned: {why}")
        if epoch == 1:
            self.log(
                f"WARNING: no epoch fits in the time limit ({self.config.time_limit:.0f} s): "
                f"the model stays UNTRAINED; an epoch needs about {projected:.0f} s"
            )

    def _late_to_start(self) -> tuple[str, float, int] | None:
        """Return why the next epoch cannot end within the time limit, before starting it.

        The least an epoch takes is one validation pass. Before the first epoch, which
        nothing has timed yet, its length is estimated from the untrained model's
        validation pass, a training trial costing about three forward passes (forward and
        backward; measured 3.4 on 2 CPU cores with the tiny mouse, so the estimate errs
        short): an epoch whose estimated end passes the limit is not started, since a
        single batch of a short epoch may already overrun it. Later epochs are forecast
        after the one before (:meth:`_out_of_time`).
        """
        limit = self._limit()
        if limit is None:
            return None
        now = time.perf_counter() - self.started
        n_train = _trials(self.train_sets)
        n_val = max(_trials(self.val_sets), 1)
        estimate = self.validation_seconds * (1 + 3 * n_train / n_val)
        least = estimate if self.stopping.epoch == 0 else self.validation_seconds
        if now + least <= limit:
            return None
        message = (
            f"not started: {now:.0f} s spent, and estimated at {estimate:.0f} s from the "
            f"validation pass ({self.validation_seconds:.1f} s) it would not end within the "
            f"time limit ({max(limit, 0.0):.0f} s)"
        )
        return message, estimate, 0

    def _check_time(self, first_start: float, timed_from: float, done: int, total: int) -> None:
        """Raise :class:`_OutOfTime` when this epoch's projected end passes the time limit.

        Called after every batch, the first included. The projection extrapolates the
        batches timed (all but the first, which warms up or compiles) to the whole epoch and
        adds the last validation's time, once two of them are timed. Before that it counts
        only what is certain (the time spent and a validation pass), except in an epoch of
        fewer than four batches, which would end before two were timed: there the batches
        done, the first included (less any compilation), give the projection. Not under DDP
        (processes would have to agree after every batch): there only the checks between
        epochs apply.
        """
        limit = self._limit()
        if limit is None or self.env.distributed:
            return
        now = time.perf_counter()
        timed = done - 1
        if timed >= 2:
            per_batch = (now - timed_from) / timed
        elif total < 4:
            per_batch = max(now - first_start - (self.compile_seconds or 0.0), 0.0) / done
        else:
            per_batch = 0.0
        end = now - self.started + per_batch * (total - done) + self.validation_seconds
        if end > limit:
            message = (
                f"after {done} of {total} batches it would end at {end:.0f} s, after the time "
                f"limit ({limit:.0f} s); the last finished epoch is kept"
            )
            raise _OutOfTime(message, per_batch * total + self.validation_seconds, done)

    def _out_of_time(self, epoch_start: float, compile_seconds: float | None) -> bool:
        """Whether the next epoch, as long as this one, would end after the time limit.

        An epoch that compiled predicts the next one from its time minus the compilation;
        one after which compiling starts adds the compilation estimate. Under DDP every
        process follows rank 0's clock.
        """
        limit = self._limit()
        if limit is None:
            return False
        now = time.perf_counter()
        epoch_seconds = now - epoch_start
        if compile_seconds is not None:  # this epoch compiled; the next one will not
            epoch_seconds = max(epoch_seconds - compile_seconds, 0.0)
        elif isinstance(self.net, CompiledOrEager) and self.net.compile_seconds is None:
            epoch_seconds += max(COMPILE_EPOCHS * epoch_seconds, MIN_COMPILE_SECONDS)
        late = float(now - self.started + epoch_seconds > limit)
        if self.env.distributed:
            late = all_reduce_sum([late if self.env.is_main else 0.0], self.device)[0]
        return late > 0

    def _entry(
        self,
        epoch: int,
        loss: float | None,
        score: float,
        per_recording: dict[str, float],
        start_time: float,
        restored: bool,
        lr: float | None = None,
    ) -> dict[str, Any]:
        return {
            "epoch": epoch,
            "train_loss": loss,
            "validation_correlation": score,
            "validation_per_recording": per_recording,
            "lr": float(self.optimizer.param_groups[0]["lr"]) if lr is None else lr,
            "seconds": time.perf_counter() - start_time,
            "best_correlation": self.stopping.best_correlation,
            "best_epoch": self.stopping.best_epoch,
            "decay_step": self.stopping.decay_step,
            "restored_best": restored,
            "compile_seconds": None,
            "stop_reason": self.stopping.stop_reason,
        }

    def _finish(self) -> TrainResult:
        stopping = self.stopping
        assert stopping.stop_reason is not None
        self.model.load_state_dict(self.best_state)
        if self.out is not None and self.env.is_main:
            files.save_best(self.model, self.out / files.MODEL)
        barrier()
        self.log(
            f"stopped: {_stop_message(stopping.stop_reason, self.config)}; best validation "
            f"correlation {stopping.best_correlation:.4f} at epoch {stopping.best_epoch}"
        )
        return TrainResult(
            model=self.model,
            best_epoch=stopping.best_epoch,
            best_correlation=stopping.best_correlation,
            history=list(self.history),
            stop_reason=stopping.stop_reason,
            out=self.out,
        )

    # ------------------------------------------------------------------ one epoch
    def _train_epoch(self, epoch: int) -> float:
        config, env = self.config, self.env
        torch.manual_seed(epoch_seed(config.seed, epoch, env.rank))
        loaders = {}
        for stream, (key, dataset) in enumerate(self.train_sets.items()):
            batches = epoch_batches(
                len(dataset),  # type: ignore[arg-type]
                config.batch_size,
                seed=config.seed,
                epoch=epoch,
                stream=stream,
            )
            loaders[key] = batch_loader(
                dataset,
                shard(batches, env.rank, env.world_size, pad=True),
                num_workers=self.workers[key],
                pin_memory=self.device.type == "cuda",
            )
        steps = Interleaved(loaders)
        per_step = len(loaders)
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        total, count = 0.0, 0
        compiling = isinstance(self.net, CompiledOrEager) and self.net.compile_seconds is None
        if compiling:
            self.log(
                "compiling the model with torch.compile before the first batch "
                "(a minute or more on a CPU; the progress bar waits)"
            )
        bar = progress_bar(
            config.progress and env.is_main,
            total=len(steps),
            desc=f"epoch {epoch} (compiling)" if compiling else f"epoch {epoch}",
            leave=False,
            unit="batch",
        )
        first_start = timed_from = time.perf_counter()
        with bar:
            for number, (key, batch) in enumerate(steps):
                batch = to_device(batch, self.device, config.channels_last)
                synchronise = (number + 1) % per_step == 0
                no_sync = self.ddp.no_sync() if self.ddp is not None and not synchronise else None
                with no_sync or contextlib.nullcontext():
                    loss = self._objective(batch, key)
                    value = self._check_loss(loss, epoch, number, len(steps), key, batch)
                    loss.backward()
                if synchronise:
                    self.optimizer.step()
                    self.optimizer.zero_grad(set_to_none=True)
                total += value
                count += 1
                if compiling:  # the ETA should not count the compilation
                    compiling = False
                    self._compiled(time.perf_counter() - first_start)
                    bar.reset(total=len(steps))
                    bar.set_description(f"epoch {epoch}", refresh=False)
                bar.update()
                if number == 0:  # the projection leaves out the first batch (warm-up, compiling)
                    timed_from = time.perf_counter()
                self._check_time(first_start, timed_from, number + 1, len(steps))
                postfix = {"loss": f"{total / count:.4g}"}
                if self.last_score is not None:
                    postfix["val"] = f"{self.last_score:.4f}"
                bar.set_postfix(postfix, refresh=False)
        if env.distributed:
            total, count_float = all_reduce_sum([total, float(count)], self.device)
            count = int(count_float)
            self._broadcast_state()
        return total / max(count, 1)

    def _objective(self, batch: dict[str, torch.Tensor], key: str) -> torch.Tensor:
        prediction = self.net(batch, key)
        loss = poisson_loss(prediction, batch["responses"], avg=self.config.avg_loss)
        if self.config.scale_loss:
            n_train = len(self.train_sets[key])  # type: ignore[arg-type]
            loss = loss * loss_scale(n_train, prediction.shape[0])
        return loss + self.model.regularizer(key)  # type: ignore[operator]

    def _check_loss(
        self,
        loss: torch.Tensor,
        epoch: int,
        number: int,
        total: int,
        key: str,
        batch: Mapping[str, torch.Tensor],
    ) -> float:
        value = float(loss.detach())
        bad = not math.isfinite(value)
        if self.env.distributed:  # every process must stop together
            bad = all_reduce_sum([float(bad)], self.device)[0] > 0
        if bad:
            fields = _non_finite_fields(batch)
            if self.env.distributed:  # as bad is, so every process reduces this too
                flag = all_reduce_sum([float(bool(fields))], self.device)[0] > 0
                fields = fields or (["a batch of another process"] if flag else [])
            if fields:
                raise TrainingDiverged(
                    f"the loss became {value} in epoch {epoch}, batch {number + 1} of {total} "
                    f"(recording {key!r}) because the batch holds NaN or infinite values "
                    f"({', '.join(fields)}): the data is at fault, not the learning rate. "
                    f"{self._data_hint(key)} Training stopped. {self._kept()}"
                )
            raise TrainingDiverged(
                f"the loss became {value} in epoch {epoch}, batch {number + 1} of {total} "
                f"(recording {key!r}); training stopped. {self._kept()} Try a lower "
                f"learning rate (lr is {self.optimizer.param_groups[0]['lr']:.3g})."
            )
        return value

    def _check_weights(self, epoch: int) -> None:
        finite = torch.stack([torch.isfinite(p).all() for p in self.model.parameters()]).all()
        if not bool(finite):
            raise TrainingDiverged(
                f"the weights became NaN or infinite during epoch {epoch}; training stopped. "
                f"{self._kept()} Try a lower learning rate."
            )

    def _data_hint(self, key: str) -> str:
        """Say how to check the data of one recording: its cache, then the recording."""
        cache = getattr(self.train_sets[key], "cache", None)
        if not isinstance(cache, RecordingCache):
            return f"Check the data of recording {key!r} (`neurotwin validate`)."
        command = cache.verify_command()
        fix = (
            f"run `{command}` to verify it and rebuild it if damaged"
            if command is not None
            else "delete it to have it rebuilt"
        )
        return (
            f"Its cache is {cache.path}: {fix}; if the values are in the recording itself "
            f"(`neurotwin validate {shlex.quote(str(cache.meta['source']))}` lists them), "
            "fix the recording."
        )

    def _kept(self) -> str:
        path = self.checkpoint_path
        if path is None:
            return "No checkpoint was written (no run folder)."
        return f"The last good checkpoint ({path}, after epoch {self.stopping.epoch}) was kept."

    def _broadcast_state(self) -> None:
        """Make every process hold rank 0's weights and buffers exactly."""
        for tensor in self.model.state_dict().values():
            dist.broadcast(tensor, src=0)

    def _validate(self) -> tuple[float, dict[str, float]]:
        return validation_correlation(
            self.model,
            self.val_sets,
            self.config.batch_size,
            self.device,
            self.env,
            self.config.channels_last,
        )

    # ------------------------------------------------------------------ checkpoint
    def _save(self) -> None:
        path = self.checkpoint_path
        if path is None or not self.env.is_main:
            return
        state = {
            "epoch": self.stopping.epoch,
            "stopping": dataclasses.asdict(self.stopping),
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "best_state": self.best_state,
            "history": self.history,
            "config": self.config.to_dict(),
            "world_size": self.env.world_size,
            "rng": torch.get_rng_state(),
        }
        files.save_checkpoint(path, state)

    def _restore(self, path: Path) -> None:
        state = files.load_checkpoint(path)
        _check_same_recipe(state.get("config", {}), self.config, path)
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError as exc:
            raise NeurotwinError(
                f"{path} does not fit this model (another architecture or other recordings?): "
                f"{str(exc).splitlines()[0]}"
            ) from exc
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.stopping = _Stopping(**state["stopping"])
        self.best_state = state["best_state"]
        self.history = list(state["history"])
        torch.set_rng_state(state["rng"])
        if self.history:
            self.last_score = self.history[-1]["validation_correlation"]
        stopping = self.stopping
        if stopping.stop_reason == STOP_MAX_EPOCHS and stopping.epoch < self.config.max_epochs:
            stopping.stop_reason = None  # a larger max_epochs continues the run
        saved_limit = state.get("config", {}).get("time_limit")
        if stopping.stop_reason == STOP_TIME_LIMIT and saved_limit != self.config.time_limit:
            stopping.stop_reason = None  # another budget: this call may train more epochs
        if stopping.stop_reason is None and stopping.epoch >= self.config.max_epochs:
            stopping.stop_reason = STOP_MAX_EPOCHS
        if self.out is not None and self.env.is_main:
            files.write_metrics(self.out / files.METRICS, self.history)
        self.log(f"resuming {path} after epoch {stopping.epoch}")


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


def _check_same_recipe(saved: dict[str, Any], config: TrainConfig, path: Path) -> None:
    current = config.to_dict()
    changed = [
        f"{name} {saved[name]!r} -> {current[name]!r}"
        for name in TRAJECTORY_FIELDS
        if name in saved and saved[name] != current[name]
    ]
    if changed:
        raise NeurotwinError(
            f"{path} was written with another training recipe ({'; '.join(changed)}); "
            "resume with the same settings, or start over (resume=False, --no-resume)"
        )
