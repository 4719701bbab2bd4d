"""A small stand-in for the models of `neurotwin.models`, with exactly the contract's interface.

forward(batch, key) -> positive (B, n); regularizer(key); needs_behavior; needs_eye_position;
keys; infos; name; config. A 5x5 convolution, average pooling, one linear readout per
recording, dropout during training (so training draws random numbers, like the Gaussian
readout does) and ELU + 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from neurotwin.errors import NeurotwinError


@dataclass(frozen=True)
class Info:
    """The part of `RecordingInfo` the stand-in needs."""

    key: str
    n_neurons: int


@dataclass(frozen=True)
class StandInConfig:
    pool: tuple[int, int] = (6, 8)
    channels: int = 4
    gamma: float = 1e-3
    dropout: float = 0.1


class StandIn(nn.Module):
    name = "standin"
    needs_behavior = False
    needs_eye_position = False

    def __init__(self, infos: Mapping[str, Info], **config: Any) -> None:
        super().__init__()
        self.config = StandInConfig(**config)
        self.infos = dict(infos)
        self.keys = tuple(infos)
        c, (ph, pw) = self.config.channels, self.config.pool
        self.conv = nn.Conv2d(1, c, 5, padding=2)
        self.pool = nn.AdaptiveAvgPool2d((ph, pw))
        self.readouts = nn.ModuleDict(
            {key: nn.Linear(c * ph * pw, info.n_neurons) for key, info in infos.items()}
        )

    def forward(self, batch: Mapping[str, torch.Tensor], key: str) -> torch.Tensor:
        if "images" not in batch:
            raise NeurotwinError("the batch has no 'images'")
        x = self.pool(F.elu(self.conv(batch["images"]))).flatten(1)
        x = F.dropout(x, self.config.dropout, self.training)
        return F.elu(self.readouts[key](x)) + 1

    def regularizer(self, key: str) -> torch.Tensor:
        return self.config.gamma * self.readouts[key].weight.abs().sum()


def infos_of(loaders: Mapping[str, Mapping[str, Any]]) -> dict[str, Info]:
    """Infos of every recording of a loaders dict (neurons from the responses' width)."""
    out = {}
    for key, loader in loaders["train"].items():
        n = int(loader.dataset[[0]]["responses"].shape[-1])
        out[key] = Info(key, n)
    return out


def make_standin(loaders: Mapping[str, Mapping[str, Any]], seed: int = 0, **config: Any) -> StandIn:
    torch.manual_seed(seed)
    return StandIn(infos_of(loaders), **config)
