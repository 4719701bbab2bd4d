"""Ensembles: the average prediction of several models of the same recordings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from neurotwin.errors import NeurotwinError
from neurotwin.models.base import TwinModule
from neurotwin.models.contract import STIMULUS_FIELD, StimulusKind


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
    def stimulus_kind(self) -> StimulusKind:
        """The members' stimulus kind (they agree)."""
        return self.member(0).stimulus_kind

    @property
    def required_fields(self) -> tuple[str, ...]:
        """Every field any member reads: the stimulus, then behaviour and pupil centre."""
        wanted = {f for i in range(len(self)) for f in self.member(i).required_fields}
        order = (STIMULUS_FIELD[self.stimulus_kind], "behavior", "pupil_center")
        return tuple(f for f in order if f in wanted) + tuple(sorted(wanted - set(order)))

    @property
    def temporal_context(self) -> int:
        """The members' temporal context (they agree)."""
        return self.member(0).temporal_context

    def features(self, batch: Mapping[str, torch.Tensor], key: str) -> torch.Tensor:
        """Stack the members' predictions: ``(n_members, B, ..., n_neurons)``."""
        self.check_key(key)
        return torch.stack([self.member(i)(batch, key) for i in range(len(self))])

    def head(
        self, features: torch.Tensor, batch: Mapping[str, torch.Tensor], key: str
    ) -> torch.Tensor:
        """Average :meth:`features` over the members (summed in member order)."""
        total = features[0]
        for member in features[1:]:
            total = total + member
        return total / len(features)

    def regularizer(self, key: str) -> torch.Tensor:
        """Mean of the members' penalties."""
        self.check_key(key)
        return torch.stack([self.member(i).regularizer(key) for i in range(len(self))]).mean()

    def receptive_field_positions(self, key: str) -> np.ndarray | None:
        """Mean of the members' readout centres, ``(n, 2)`` input pixels (None if one has none)."""
        self.check_key(key)
        positions = [self.member(i).receptive_field_positions(key) for i in range(len(self))]
        known = [p for p in positions if p is not None]
        return np.mean(known, axis=0) if len(known) == len(positions) else None


def _check_same(first: TwinModule, other: TwinModule, number: int) -> None:
    for what in ("stimulus_kind", "temporal_context"):
        mine, theirs = getattr(first, what), getattr(other, what)
        if mine != theirs:
            raise NeurotwinError(
                f"ensemble member {number} ({other.name!r}) has {what} {theirs!r}; member 0 "
                f"({first.name!r}) has {mine!r}"
            )
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
