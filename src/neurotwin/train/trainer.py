"""The training loop: the 2022 kit's recipe, resumable exactly, single process or DDP.

One epoch interleaves one batch of every recording at a time (shorter recordings start
over, as :class:`neurotwin.data.Interleaved` does) and takes one optimiser step per round
(the gradient of one batch of each recording, as the kit accumulates it). The objective of
a batch is the task's loss (:mod:`neurotwin.train.tasks`: the Poisson loss, scaled by
``sqrt(n_train / batch_size)``) plus the model's regulariser for that recording. The
optimiser and learning-rate schedule come by name from :mod:`neurotwin.train.optim`.

The loaders' batch size and shuffling are honoured (read from their
:class:`~neurotwin.data.loaders.EpochBatches` sampler); the order of every epoch's batches
is drawn from ``(config.seed, epoch, recording, rank)`` so that a run resumed from its
checkpoint (:mod:`neurotwin.train.resume`) ends with the same weights as one that was never
interrupted. The time budget lives in :mod:`neurotwin.train.budget`, the compile decision
in :mod:`neurotwin.train.compiling`, the divergence checks in
:mod:`neurotwin.train.divergence`.

Distributed: under ``torchrun`` every process trains on a disjoint share of each epoch's
batches (gradients averaged by DDP); the validation predictions of all processes are
gathered before scoring, so every process computes the single-process score and takes
the same early-stopping decisions; only rank 0 writes files and shows progress.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from neurotwin import __version__
from neurotwin.data.loaders import Interleaved, batch_loader
from neurotwin.progress import progress_bar
from neurotwin.train import checkpoint as files
from neurotwin.train.allocator import keep_freed_memory
from neurotwin.train.budget import OutOfTime, TimeBudget
from neurotwin.train.compiling import CompileDecision, CompiledOrEager, compile_pays
from neurotwin.train.config import TrainConfig, resolve_device
from neurotwin.train.cutmix import cutmix
from neurotwin.train.distributed import DistEnv, all_reduce_sum, barrier, start, stop
from neurotwin.train.divergence import DivergenceChecks, TrainingDiverged
from neurotwin.train.evaluate import validation_score
from neurotwin.train.inputs import checked_loaders, epoch_batches_of
from neurotwin.train.lock import RunLock
from neurotwin.train.optim import WeightAverage, make_optimizer, make_schedule
from neurotwin.train.prediction import to_device
from neurotwin.train.resume import Checkpointing
from neurotwin.train.sampling import epoch_seed
from neurotwin.train.state import (
    STOP_MAX_EPOCHS,
    STOP_PATIENCE,
    STOP_TIME_LIMIT,
    Log,
    Stopping,
    stop_message,
)
from neurotwin.train.tasks import Task, task_for_model
from neurotwin.train.twin import module_of

if TYPE_CHECKING:
    from neurotwin.models.contract import TwinModel

__all__ = [
    "STOP_MAX_EPOCHS",
    "STOP_PATIENCE",
    "STOP_TIME_LIMIT",
    "CompiledOrEager",
    "Log",
    "TrainResult",
    "TrainingDiverged",
    "compile_pays",
    "train",
]

Loaders = Mapping[str, Mapping[str, DataLoader[Any]]]


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

    model: TwinModel
    best_epoch: int
    best_correlation: float
    history: list[dict[str, Any]]
    stop_reason: str
    out: Path | None = None


def train(
    model: TwinModel,
    loaders: Loaders,
    config: TrainConfig | None = None,
    out: str | os.PathLike[str] | None = None,
    resume: bool = True,
    log: Log | None = print,
    task: Task | None = None,
) -> TrainResult:
    """Train a model on the ``train`` tier, early-stopping on the ``validation`` tier.

    Parameters
    ----------
    model
        A model following :class:`~neurotwin.models.contract.TwinModel` (and a torch
        module): ``model(batch, key)`` gives positive predictions and
        ``model.regularizer(key)`` a scalar. Trained in place.
    loaders
        ``{tier: {recording_key: DataLoader}}`` from :func:`neurotwin.data.make_loaders`
        (or :func:`~neurotwin.data.static_loaders`) with ``train`` and ``validation`` tiers.
        Their batch size (which must be ``config.batch_size``), shuffling, workers and
        memory pinning are used; the order of each epoch's batches is drawn from
        ``config.seed`` (not the loaders' seed), so that resuming is exact.
    config
        The recipe; :class:`TrainConfig` defaults when None. It is resolved for the model's
        stimulus kind as :func:`~neurotwin.train.fit` does (:meth:`TrainConfig.for_kind`:
        with ``recipe="auto"``, a video model's fields left at their defaults take the 2023
        kit's values; a named recipe fills in its fields).
    out
        Run folder for ``config.json``, ``metrics.jsonl``, ``checkpoint.pt`` (after every
        epoch) and ``model.pt`` (best weights, at the end). None writes nothing.
    resume
        Continue from ``out/checkpoint.pt`` when it exists (a finished run returns at
        once); False starts over.
    log
        Called with one line per epoch (None: silent).
    task
        The loss, prediction gathering and validation score
        (:mod:`neurotwin.train.tasks`); None: the task of the model's stimulus kind.

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
        For loaders without the tiers needed, of another batch size than the config's or
        not built by neurotwin, a device that does not exist, or a checkpoint that does not
        fit the model or the config.
    """
    config = (config or TrainConfig()).for_kind(model.stimulus_kind)
    env = DistEnv.from_environ()
    device = resolve_device(config.device, env.local_rank if env.distributed else None)
    train_loaders, val_loaders = checked_loaders(model, loaders, config)
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    if config.keep_freed_memory and device.type == "cpu":
        keep_freed_memory()
    say: Log = log if log is not None and env.is_main else _silent  # rank 0 speaks
    task = task or task_for_model(model, config)
    run = _Run(model, train_loaders, val_loaders, task, config, out, env, device, say)
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


class _Run(Checkpointing, TimeBudget, DivergenceChecks, CompileDecision):
    """One training run: the loop over epochs (checkpoints, budget and checks in the bases)."""

    def __init__(
        self,
        model: TwinModel,
        train_loaders: dict[str, DataLoader[Any]],
        val_loaders: dict[str, DataLoader[Any]],
        task: Task,
        config: TrainConfig,
        out: str | os.PathLike[str] | None,
        env: DistEnv,
        device: torch.device,
        log: Log,
    ) -> None:
        self.model = model
        self.module = module_of(model)
        self.train_loaders = train_loaders
        self.val_loaders = val_loaders
        self.n_train = {key: len(loader.dataset) for key, loader in train_loaders.items()}  # type: ignore[arg-type]
        self.task = task
        self.config = config
        self.out = Path(out) if out is not None else None
        self.env = env
        self.device = device
        self.log = log
        self.stopping = Stopping()
        self.history = []
        self.best_state = {}
        self.last_score = None
        self.started = self.now()
        self.validation_seconds = 0.0
        self.compile_seconds = None  # of the epoch under way
        self.ema = None

    def now(self) -> float:
        """Return the trainer's clock (tests replace this module's ``time``)."""
        return time.perf_counter()

    # ------------------------------------------------------------------ setup
    def _build(self) -> None:
        config = self.config
        self.module.to(self.device)
        if config.channels_last and self.model.stimulus_kind == "static":
            self.module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        if self._channels_last_3d:
            self.module.to(memory_format=torch.channels_last_3d)  # type: ignore[call-overload]
        self.optimizer = make_optimizer(self.module.parameters(), config)
        steps = max(
            len(batches)
            for batches in epoch_batches_of(
                self.train_loaders, 0, self.config.seed, self.env
            ).values()
        )
        self.schedule = make_schedule(self.optimizer, config, steps)
        if config.ema_decay is not None:
            self.ema = WeightAverage(self.module, config.ema_decay)

    # ------------------------------------------------------------------ main
    def run(self, resume: bool) -> TrainResult:
        self.started = self.now()
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

    def _start(self) -> None:
        """Score the untrained model (epoch 0): the first best, as in the kit."""
        start_time = self.now()
        score, per_recording = self._validate()
        self.validation_seconds = self.now() - start_time
        self.stopping.best_correlation = score
        self.best_state = self.best_weights()
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
        start_time = self.now()
        lr = float(self.optimizer.param_groups[0]["lr"])
        self.compile_seconds = None
        late = self._late_to_start()
        if late is not None:
            self._abandon(epoch, *late, start_time)
            return
        try:
            loss = self._train_epoch(epoch)
        except OutOfTime as exc:
            why, projected, batches = exc.args
            self._abandon(epoch, why, projected, batches, start_time)
            return
        self._check_weights(epoch)
        lr_after = float(self.optimizer.param_groups[0]["lr"])  # per-step schedules move it
        validation_start = self.now()
        score, per_recording = self._validate()
        self.validation_seconds = self.now() - validation_start
        self.last_score = score
        self.schedule.after_epoch(score)
        if score > stopping.best_correlation + config.tolerance:
            stopping.best_correlation, stopping.best_epoch = score, epoch
            stopping.patience_counter = 0
            self.best_state = self.best_weights()
        else:
            stopping.patience_counter += 1
        restored = False
        compile_seconds = self.compile_seconds
        if epoch >= config.max_epochs:
            stopping.stop_reason = STOP_MAX_EPOCHS
        elif stopping.patience_counter >= config.patience:
            # a decay step: back to the best weights (the plateau schedule lowers the rate)
            self.load_weights(self.best_state)
            stopping.decay_step += 1
            stopping.patience_counter = 0
            restored = True
            if stopping.decay_step >= config.lr_decay_steps:
                stopping.stop_reason = STOP_PATIENCE
        if stopping.stop_reason is None:
            self._decide_compile(self.now() - start_time)
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
        start, end = f"{lr:.3g}", f"{lr_after:.3g}"
        rates = start if start == end else f"{start} -> {end}"
        self.log(
            f"epoch {epoch:3d}  loss {loss:.5g}  validation correlation {score:.4f}{mark}  "
            f"lr {rates}  {entry['seconds']:.1f}s"
            + ("  (best weights restored)" if restored else "")
        )

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
            "seconds": self.now() - start_time,
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
        self.load_weights(self.best_state)
        if self.out is not None and self.env.is_main:
            files.save_best(self.model, self.out / files.MODEL)
        barrier()
        self.log(
            f"stopped: {stop_message(stopping.stop_reason, self.config)}; best validation "
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
        pin = self.device.type == "cuda"
        loaders = {
            key: batch_loader(
                self.train_loaders[key].dataset,
                batches,
                num_workers=self.train_loaders[key].num_workers,
                pin_memory=pin or self.train_loaders[key].pin_memory,
            )
            for key, batches in epoch_batches_of(
                self.train_loaders, epoch, config.seed, env
            ).items()
        }
        steps = Interleaved(loaders)
        per_step = len(loaders)
        self.module.train()
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
        first_start = timed_from = self.now()
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
                    self._step()
                total += value
                count += 1
                if compiling:  # the ETA should not count the compilation
                    compiling = False
                    self._compiled(self.now() - first_start)
                    bar.reset(total=len(steps))
                    bar.set_description(f"epoch {epoch}", refresh=False)
                bar.update()
                if number == 0:  # the projection leaves out the first batch (warm-up, compiling)
                    timed_from = self.now()
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

    def _step(self) -> None:
        """One optimiser step, then the schedule's and the weight average's."""
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.schedule.after_step()
        if self.ema is not None:
            self.ema.update()

    @property
    def _channels_last_3d(self) -> bool:
        """The dwise recipe's memory format: video models on CUDA (slower on a CPU, measured)."""
        return (
            self.config.channels_last_3d
            and self.model.stimulus_kind == "video"
            and self.device.type == "cuda"
        )

    def _objective(self, batch: dict[str, torch.Tensor], key: str) -> torch.Tensor:
        config = self.config
        if self.model.stimulus_kind == "video":  # the dwise recipe's video options
            if config.cutmix_prob > 0:
                batch, _ = cutmix(batch, alpha=config.cutmix_alpha, prob=config.cutmix_prob)
            if self._channels_last_3d:
                videos = batch["videos"].contiguous(memory_format=torch.channels_last_3d)
                batch = {**batch, "videos": videos}
        autocast: contextlib.AbstractContextManager[Any] = (
            torch.autocast("cuda", dtype=torch.bfloat16)
            if config.bf16 and self.device.type == "cuda"
            else contextlib.nullcontext()
        )
        with autocast:
            prediction = self.net(batch, key)
        loss = self.task.loss(prediction.float(), batch, self.n_train[key])
        return loss + self.model.regularizer(key)

    def _broadcast_state(self) -> None:
        """Make every process hold rank 0's weights, buffers and weight average exactly.

        The gradients are averaged, but each process updates its batch-norm statistics from
        its own batches, and the weight average folds them in: without this, the processes
        would validate and save slightly different models.
        """
        for tensor in self.module.state_dict().values():
            dist.broadcast(tensor, src=0)
        if self.ema is not None:
            for tensor in self.ema.average.values():
                dist.broadcast(tensor, src=0)

    def _validate(self) -> tuple[float, dict[str, float]]:
        """Score the model (its weight average, when kept) on the validation loaders."""
        with self.ema.applied() if self.ema is not None else contextlib.nullcontext():
            return validation_score(
                self.task,
                self.model,
                self.val_loaders,
                self.device,
                self.env,
                self.config.channels_last,
            )
