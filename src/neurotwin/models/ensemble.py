"""Ensembles: the average prediction of several models of the same recordings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from neurotwin.errors import NeurotwinError
from neurotwin.models.base import TwinModule


@dataclass(frozen=True)
class EnsembleConfig:
    """What an ensemble is made of.

    Attributes
    ----------
    members
        Registry names of the members, in order.
    """

    members: tuple[str, ...] = ()


class Ensemble(TwinModule):
    """Average the predictions of models that share recording keys and neurons.

    Parameters
    ----------
    members
        Models with the same keys, neuron counts and unit ids (e.g. one architecture
        trained with several seeds). They may differ in architecture.

    Raises
    ------
    NeurotwinError
        No members, or members that disagree on keys, neuron counts or unit ids.
    """

    def __init__(self, members: Sequence[TwinModule]) -> None:
        members = list(members)
        if not members:
            raise NeurotwinError("an ensemble needs at least one member")
        first = members[0]
        for number, member in enumerate(members[1:], start=1):
            _check_same(first, member, number)
        super().__init__(first.infos)
        self.members = nn.ModuleList(members)
        self.name = "ensemble"
        self.config = EnsembleConfig(tuple(m.name for m in members))

    def member(self, index: int) -> TwinModule:
        """Return member ``index``."""
        model = self.members[index]
        assert isinstance(model, TwinModule)
        return model

    def __len__(self) -> int:
        return len(self.members)

    @property
    def needs_behavior(self) -> bool:
        """True when any member needs behaviour."""
        return any(self.member(i).needs_behavior for i in range(len(self)))

    @property
    def needs_eye_position(self) -> bool:
        """True when any member needs the pupil centre."""
        return any(self.member(i).needs_eye_position for i in range(len(self)))

    def forward(self, batch: Mapping[str, torch.Tensor], key: str) -> torch.Tensor:
        """Return the mean of the members' predictions, ``(B, n_neurons)``."""
        self.check_key(key)
        total = self.member(0)(batch, key)
        for i in range(1, len(self)):
            total = total + self.member(i)(batch, key)
        return total / len(self)

    def regularizer(self, key: str) -> torch.Tensor:
        """Mean of the members' penalties."""
        self.check_key(key)
        return torch.stack([self.member(i).regularizer(key) for i in range(len(self))]).mean()

    def receptive_field_positions(self, key: str) -> np.ndarray:
        """Mean of the members' readout centres, ``(n, 2)`` input-image pixels."""
        self.check_key(key)
        positions = [self.member(i).receptive_field_positions(key) for i in range(len(self))]
        return np.mean(positions, axis=0)


def _check_same(first: TwinModule, other: TwinModule, number: int) -> None:
    if set(first.keys) != set(other.keys):
        raise NeurotwinError(
            f"ensemble member {number} ({other.name!r}) predicts recordings "
            f"{', '.join(other.keys)}; member 0 ({first.name!r}) predicts {', '.join(first.keys)}"
        )
    for key in first.keys:
        a, b = first.infos[key], other.infos[key]
        if a.n_neurons != b.n_neurons:
            raise NeurotwinError(
                f"ensemble member {number} predicts {b.n_neurons} neurons for recording "
                f"{key!r}; member 0 predicts {a.n_neurons}"
            )
        if not np.array_equal(a.unit_ids, b.unit_ids):
            raise NeurotwinError(
                f"ensemble member {number} orders or names the neurons of recording {key!r} "
                "differently from member 0 (unit ids differ)"
            )
