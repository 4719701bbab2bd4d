"""The time budget (``TrainConfig.time_limit``): stop after the last epoch that fits.

Before an epoch: is there time for it (:meth:`TimeBudget._late_to_start`)? During it, after
every batch: does its projected end pass the limit (:meth:`TimeBudget._check_time`, which
raises :class:`OutOfTime`)? After it: would the next one, as long, end in time
(:meth:`TimeBudget._out_of_time`)? The clock is the trainer's (``RunState.now``).
"""

from __future__ import annotations

from typing import Any

from neurotwin.train.compiling import CompiledOrEager, compile_cost
from neurotwin.train.distributed import all_reduce_sum
from neurotwin.train.state import RunState


class OutOfTime(Exception):
    """The epoch under way would end after the time limit.

    ``args``: the message, the projected seconds of the whole epoch, the batches done.
    """


def _frames(loaders: dict[str, Any]) -> int:
    """Stimulus frames one pass over the loaders feeds the model (images: one each)."""
    total = 0
    for loader in loaders.values():
        dataset = loader.dataset
        count = getattr(dataset, "frames_per_pass", None)
        total += count() if callable(count) else len(dataset)
    return total


class TimeBudget(RunState):
    """The time-limit checks (part of the trainer's ``_Run``)."""

    def _late_to_start(self) -> tuple[str, float, int] | None:
        """Return why the next epoch cannot end within the time limit, before starting it.

        The least an epoch takes is one validation pass. Before the first epoch, which
        nothing has timed yet, its length is estimated from the untrained model's
        validation pass, scaled by the stimulus frames each pass feeds the model (an image
        each; a video trial's frames, or its training clip's) and a training frame costing
        about three forward passes (forward and backward; measured 3.4 on 2 CPU cores with
        the tiny mouse, so the estimate errs short): an epoch whose estimated end passes
        the limit is not started, since a single batch of a short epoch may already overrun
        it. Later epochs are forecast after the one before (:meth:`_out_of_time`).
        """
        limit = self._limit()
        if limit is None:
            return None
        now = self.now() - self.started
        n_train = _frames(self.train_loaders)
        n_val = max(_frames(self.val_loaders), 1)
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
        """Raise :class:`OutOfTime` when this epoch's projected end passes the time limit.

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
        now = self.now()
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
            raise OutOfTime(message, per_batch * total + self.validation_seconds, done)

    def _out_of_time(self, epoch_start: float, compile_seconds: float | None) -> bool:
        """Whether the next epoch, as long as this one, would end after the time limit.

        An epoch that compiled predicts the next one from its time minus the compilation;
        one after which compiling starts adds the compilation estimate. Under DDP every
        process follows rank 0's clock.
        """
        limit = self._limit()
        if limit is None:
            return False
        now = self.now()
        epoch_seconds = now - epoch_start
        if compile_seconds is not None:  # this epoch compiled; the next one will not
            epoch_seconds = max(epoch_seconds - compile_seconds, 0.0)
        elif isinstance(self.net, CompiledOrEager) and self.net.compile_seconds is None:
            epoch_seconds += compile_cost(epoch_seconds)
        late = float(now - self.started + epoch_seconds > limit)
        if self.env.distributed:
            late = all_reduce_sum([late if self.env.is_main else 0.0], self.device)[0]
        return late > 0
