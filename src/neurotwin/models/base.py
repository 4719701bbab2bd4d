"""The interface every neurotwin model follows (a composed twin, an ensemble, your own)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from neurotwin.errors import NeurotwinError
from neurotwin.models.info import RecordingInfo


class TwinModule(nn.Module):
    """Base class of models: one prediction per neuron of a named recording.

    Subclasses set ``infos`` (and ``name``/``config``, which :func:`create_model` fills in)
    and implement :meth:`forward`, :meth:`regularizer`, :meth:`receptive_field_positions`
    and the two ``needs_*`` properties.

    Attributes
    ----------
    infos
        ``{recording_key: RecordingInfo}`` of the recordings the model predicts.
    name
        Registry name (``"sensorium+"``).
    config
        The model's configuration (a dataclass).
    """

    name: str = ""
    config: Any = None

    def __init__(self, infos: Mapping[str, RecordingInfo]) -> None:
        super().__init__()
        if not infos:
            raise NeurotwinError("a model needs at least one recording info")
        for key, info in infos.items():
            if not isinstance(info, RecordingInfo):
                raise NeurotwinError(
                    f"infos[{key!r}] is a {type(info).__name__}, expected a RecordingInfo "
                    "(see neurotwin.models.recording_infos)"
                )
            if info.key != key:
                raise NeurotwinError(f"infos[{key!r}] describes recording {info.key!r}")
        self.infos: dict[str, RecordingInfo] = dict(infos)

    @property
    def keys(self) -> tuple[str, ...]:
        """Recording keys the model predicts, in order."""
        return tuple(self.infos)

    @property
    def needs_behavior(self) -> bool:
        """Whether batches must carry ``behavior``."""
        raise NotImplementedError

    @property
    def needs_eye_position(self) -> bool:
        """Whether batches must carry ``pupil_center``."""
        raise NotImplementedError

    def check_key(self, key: str) -> RecordingInfo:
        """Return the info of ``key``, or raise naming the keys the model knows."""
        info = self.infos.get(key)
        if info is None:
            raise NeurotwinError(
                f"model {self.name or type(self).__name__!r} has no readout for recording key "
                f"{key!r}; it knows {', '.join(self.infos)}"
            )
        return info

    def forward(self, batch: Mapping[str, torch.Tensor], key: str) -> torch.Tensor:
        """Predict ``(B, n_neurons)`` strictly positive responses for recording ``key``."""
        raise NotImplementedError

    def regularizer(self, key: str) -> torch.Tensor:
        """Return the scalar penalty added to the loss of a batch of recording ``key``."""
        raise NotImplementedError

    def receptive_field_positions(self, key: str) -> np.ndarray:
        """Return ``(n_neurons, 2)`` (row, col) readout centres in input-image pixels."""
        raise NotImplementedError


def batch_field(batch: Mapping[str, torch.Tensor], field: str, model: str) -> torch.Tensor:
    """Return ``batch[field]`` or raise an error naming the field and the model."""
    value = batch.get(field)
    if value is None:
        raise NeurotwinError(
            f"model {model!r} needs {field!r} in every batch (present: {', '.join(batch)}); "
            f"build the loaders with include_behavior / include_eye_position as "
            "model.needs_behavior / model.needs_eye_position say"
        )
    return value
