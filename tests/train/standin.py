"""A small stand-in for the models of `neurotwin.models`, with exactly the contract's interface.

stimulus_kind, required_fields, features(batch, key) and head(features, batch, key) (so
forward(batch, key) -> positive (B, n)); regularizer(key); receptive_field_positions(key).
A 5x5 convolution, average pooling, one linear readout per
recording, dropout during training (so training draws random numbers, like the Gaussian
readout does) and ELU + 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neurotwin.errors import NeurotwinError
from neurotwin.models import RecordingInfo, TwinModule, create_model, register_model


@dataclass(frozen=True)
class StandInConfig:
    pool: tuple[int, int] = (6, 8)
    channels: int = 4
    gamma: float = 1e-3
    dropout: float = 0.1


@register_model("standin", description="a tiny test model: conv, pooling, linear readouts")
class StandIn(TwinModule):
    config_class = StandInConfig
    stimulus_kind = "static"
    required_fields = ("images",)

    def __init__(self, infos: Mapping[str, RecordingInfo], config: StandInConfig) -> None:
        super().__init__(infos)
        self.config = config
        c, (ph, pw) = config.channels, config.pool
        self.conv = nn.Conv2d(1, c, 5, padding=2)
        self.pool = nn.AdaptiveAvgPool2d((ph, pw))
        self.readouts = nn.ModuleDict(
            {key: nn.Linear(c * ph * pw, info.n_neurons) for key, info in infos.items()}
        )

    def features(self, batch: Mapping[str, torch.Tensor], key: str) -> torch.Tensor:
        if "images" not in batch:
            raise NeurotwinError("the batch has no 'images'")
        return self.pool(F.elu(self.conv(batch["images"]))).flatten(1)

    def head(
        self, features: torch.Tensor, batch: Mapping[str, torch.Tensor], key: str
    ) -> torch.Tensor:
        x = F.dropout(features, self.config.dropout, self.training)
        return F.elu(self.readouts[key](x)) + 1

    def regularizer(self, key: str) -> torch.Tensor:
        return self.config.gamma * self.readouts[key].weight.abs().sum()

    def receptive_field_positions(self, key: str) -> np.ndarray:
        h, w = self.infos[key].image_hw
        return np.tile([[h / 2, w / 2]], (self.infos[key].n_neurons, 1))


def infos_of(loaders: Mapping[str, Mapping[str, Any]]) -> dict[str, RecordingInfo]:
    """Infos of every recording of a loaders dict (neurons from the responses' width)."""
    out = {}
    for key, loader in loaders["train"].items():
        first = loader.dataset[[0]]
        n = int(first["responses"].shape[-1])
        hw = tuple(int(x) for x in first["images"].shape[-2:])
        out[key] = RecordingInfo(
            key=key,
            n_neurons=n,
            unit_ids=np.arange(n, dtype=np.int64),
            coordinates=None,
            mean_response=np.ones(n, dtype=np.float32),
            image_hw=hw,  # type: ignore[arg-type]
        )
    return out


def make_standin(loaders: Mapping[str, Mapping[str, Any]], seed: int = 0, **config: Any) -> Any:
    torch.manual_seed(seed)
    return create_model("standin", infos_of(loaders), **config)
