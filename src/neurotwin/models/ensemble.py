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
        Models of one stimulus kind with the same keys, neuron counts and unit ids (e.g.
        one architecture trained with several seeds). They may differ in architecture;
        video members may differ in temporal context (their predictions are aligned on
        the frame they predict, see :meth:`features`).

    Raises
    ------
    NeurotwinError
        No members, or members that disagree on stimulus kind, keys, neuron counts or unit
        ids.
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
        """The longest temporal context of a member: frames without an ensemble prediction."""
        return max(self.member(i).temporal_context for i in range(len(self)))

    def features(self, batch: Mapping[str, torch.Tensor], key: str) -> torch.Tensor:
        """Stack the members' predictions: ``(n_members, B, ..., n_neurons)``.

        Video members of different temporal contexts predict windows of different lengths,
        each ending at the window's last frame; every member's prediction is cut to the
        last ``T - temporal_context`` frames, so the members are averaged frame by frame.
        """
        self.check_key(key)
        outputs = [self.member(i)(batch, key) for i in range(len(self))]
        if outputs[0].ndim == 3:
            frames = min(out.shape[1] for out in outputs)
            outputs = [out[:, out.shape[1] - frames :] for out in outputs]
        return torch.stack(outputs)

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
    if first.stimulus_kind != other.stimulus_kind:
        raise NeurotwinError(
            f"ensemble member {number} ({other.name!r}) takes {other.stimulus_kind} stimuli; "
            f"member 0 ({first.name!r}) takes {first.stimulus_kind} stimuli"
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
