"""Shifters: eye position to a shift of every readout position.

The 2022 kit's ``MLPShifter`` (one per recording): ``num_layers`` linear layers with tanh
after each (the last one too), from the pupil centre (2 values) through
``hidden_features`` units to a shift ``(dx, dy)`` in grid_sample coordinates, added to the
readout positions of all neurons. Kit values: ``hidden_channels_shifter=5``,
``shift_layers=3``, ``gamma_shifter=0``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from neurotwin.errors import NeurotwinError


@dataclass(frozen=True)
class ShifterConfig:
    """Configuration of the eye-position shifter.

    Attributes
    ----------
    enabled
        Use a shifter (the model then needs ``pupil_center`` in every batch).
    hidden_features
        Units of the hidden layers (kit: 5).
    num_layers
        Linear layers, the output layer included (kit: 3).
    gamma_shifter
        Weight of an L2 penalty on the shifter's weights (kit: 0).
    """

    enabled: bool = False
    hidden_features: int = 5
    num_layers: int = 3
    gamma_shifter: float = 0.0

    def validate(self) -> None:
        """Raise :class:`~neurotwin.errors.NeurotwinError` on impossible values."""
        if self.hidden_features < 1 or self.num_layers < 1:
            raise NeurotwinError("shifter.hidden_features and shifter.num_layers must be positive")
        if self.gamma_shifter < 0:
            raise NeurotwinError("shifter.gamma_shifter must be >= 0")


class Shifter(nn.Module):
    """An MLP from the eye position to a 2D shift in ``[-1, 1]``.

    Parameters
    ----------
    config
        A :class:`ShifterConfig`.
    eye_dim
        Eye-position channels (2).
    """

    def __init__(self, config: ShifterConfig, eye_dim: int = 2) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        n_in = eye_dim
        for _ in range(config.num_layers - 1):
            layers += [nn.Linear(n_in, config.hidden_features), nn.Tanh()]
            n_in = config.hidden_features
        layers += [nn.Linear(n_in, 2), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, eye: torch.Tensor) -> torch.Tensor:
        """Return ``(B, 2)`` shifts ``(dx, dy)`` for eye positions ``(B, eye_dim)``."""
        return self.net(eye)

    def regularizer(self) -> torch.Tensor:
        """``gamma_shifter`` times the summed squared weights."""
        weights = [m.weight for m in self.net if isinstance(m, nn.Linear)]
        return self.config.gamma_shifter * sum(w.pow(2).sum() for w in weights)  # type: ignore[return-value]
