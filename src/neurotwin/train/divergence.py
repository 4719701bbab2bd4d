"""When the loss or the weights become NaN or infinite: stop, say why, keep the last epoch."""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping

import torch

from neurotwin.data.cache import RecordingCache
from neurotwin.data.datasets import StaticTrials
from neurotwin.errors import NeurotwinError
from neurotwin.train.distributed import all_reduce_sum
from neurotwin.train.state import RunState


class TrainingDiverged(NeurotwinError):
    """The loss or the weights became NaN or infinite; the last good checkpoint is kept."""


def non_finite_fields(batch: Mapping[str, torch.Tensor]) -> list[str]:
    """Return the fields of a batch that hold NaN or infinite values (padding is zero).

    Parameters
    ----------
    batch
        A batch.

    Returns
    -------
    list of str
        The names of the floating-point fields with a value that is not finite.
    """
    return [
        name
        for name, value in batch.items()
        if isinstance(value, torch.Tensor)
        and value.is_floating_point()
        and not bool(torch.isfinite(value).all())
    ]


class DivergenceChecks(RunState):
    """The checks of the loss and the weights (part of the trainer's ``_Run``)."""

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
            fields = non_finite_fields(batch)
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
        finite = torch.stack([torch.isfinite(p).all() for p in self.module.parameters()]).all()
        if not bool(finite):
            raise TrainingDiverged(
                f"the weights became NaN or infinite during epoch {epoch}; training stopped. "
                f"{self._kept()} Try a lower learning rate."
            )

    def _data_hint(self, key: str) -> str:
        """Say how to check the data of one recording: its cache, then the recording."""
        dataset = self.train_loaders[key].dataset
        cache = dataset.cache if isinstance(dataset, StaticTrials) else None
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
