"""Checkpoint and resume: what a run saves after every epoch and how it continues from it.

The checkpoint holds everything that evolves during training (weights, optimiser,
schedule, the average of the weights when kept, early stopping, best weights, history,
torch's random state); the batches of an epoch are a pure function of (seed, epoch,
recording, rank). A run resumed after epoch ``e`` therefore ends with the same weights as
one that was never interrupted.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from neurotwin.errors import NeurotwinError
from neurotwin.train import checkpoint as files
from neurotwin.train.config import TRAJECTORY_FIELDS, TrainConfig
from neurotwin.train.optim import EMA_WARMED_UP
from neurotwin.train.state import STOP_MAX_EPOCHS, STOP_TIME_LIMIT, RunState, Stopping


def check_same_recipe(saved: dict[str, Any], config: TrainConfig, path: Path) -> None:
    """Refuse to resume a checkpoint written with another recipe.

    Parameters
    ----------
    saved
        The checkpoint's config (fields it lacks, from older versions, are not compared).
    config
        This call's recipe.
    path
        The checkpoint (for the message).

    Raises
    ------
    NeurotwinError
        Naming every field of :data:`TRAJECTORY_FIELDS` that changed.
    """
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


def check_same_model(saved: dict[str, Any] | None, model: Any, path: Path) -> None:
    """Refuse to resume a checkpoint of another model, even one with the same weight shapes.

    Parameters
    ----------
    saved
        The checkpoint's model description (``{"name", "config"}``,
        :func:`~neurotwin.train.checkpoint.model_description`); None for checkpoints of
        older versions, which are not compared.
    model
        This call's model.
    path
        The checkpoint (for the message).

    Raises
    ------
    NeurotwinError
        Naming the registry name or every config field that differs.
    """
    if saved is None:
        return
    current = files.model_description(model)
    if saved == current:
        return
    if saved.get("name") != current["name"]:
        changed = [f"model {saved.get('name')!r} -> {current['name']!r}"]
    else:
        old, new = saved.get("config") or {}, current["config"] or {}
        changed = [
            f"{key} {old.get(key)!r} -> {new.get(key)!r}"
            for key in sorted(set(old) | set(new))
            if old.get(key) != new.get(key)
        ]
    raise NeurotwinError(
        f"{path} was written for another model ({'; '.join(changed)}); resume with the same "
        "model and settings, or start over (resume=False, --no-resume)"
    )


class Checkpointing(RunState):
    """Saving, restoring and abandoning epochs (part of the trainer's ``_Run``)."""

    def _save(self) -> None:
        path = self.checkpoint_path
        if path is None or not self.env.is_main:
            return
        state = {
            "epoch": self.stopping.epoch,
            "stopping": dataclasses.asdict(self.stopping),
            "model": {k: v.detach().cpu() for k, v in self.module.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.schedule.state_dict(),
            "best_state": self.best_state,
            "history": self.history,
            "config": self.config.to_dict(),
            "model_description": files.model_description(self.model),
            "world_size": self.env.world_size,
            "rng": torch.get_rng_state(),
        }
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
            state["ema_updates"] = self.ema.updates
        files.save_checkpoint(path, state)

    def _load_trajectory(self, state: dict[str, Any]) -> None:
        """Put the weights, optimiser, schedule, average and random state of a checkpoint back."""
        self.module.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["scheduler"])
        if self.ema is not None:
            if "ema" in state:
                # a checkpoint from before the warm-up: its average had none, so none now
                updates = state.get("ema_updates", EMA_WARMED_UP)
                self.ema.load_state_dict(state["ema"], int(updates))
            else:
                self.ema.reset()
        torch.set_rng_state(state["rng"])

    def _restore(self, path: Path) -> None:
        state = files.load_checkpoint(path)
        check_same_recipe(state.get("config", {}), self.config, path)
        check_same_model(state.get("model_description"), self.model, path)
        try:
            self.module.load_state_dict(state["model"])
        except RuntimeError as exc:
            raise NeurotwinError(
                f"{path} does not fit this model (another architecture or other recordings?): "
                f"{str(exc).splitlines()[0]}"
            ) from exc
        self._load_trajectory(state)
        self.stopping = Stopping(**state["stopping"])
        self.best_state = state["best_state"]
        self.history = list(state["history"])
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

    def _abandon(
        self, epoch: int, why: str, projected: float, batches: int, start_time: float
    ) -> None:
        """Stop inside an epoch that would end late: back to the last epoch's state.

        The model, optimiser, schedule and random state return to the checkpoint of the
        last finished epoch (the best weights, without a run folder), which then records
        the stop, so the run's files stay those of whole epochs.
        """
        path = self.checkpoint_path
        if path is not None and path.exists():
            self._load_trajectory(files.load_checkpoint(path))
        else:
            self.load_weights(self.best_state)
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

    def _save_interrupted(self) -> None:
        """After Ctrl-C: write the best weights so far to ``model.pt``, then stop."""
        if self.out is None or not self.env.is_main or not self.best_state:
            return
        self.load_weights(self.best_state)
        files.save_best(self.model, self.out / files.MODEL)
        self.log(
            f"interrupted: the best weights so far (epoch {self.stopping.best_epoch}, validation "
            f"correlation {self.stopping.best_correlation:.4f}) are in {self.out / files.MODEL}; "
            "run the same command again to resume from the checkpoint"
        )
