"""Behaviour as a per-neuron multiplicative gain on the predicted rate.

``rate = f(readout) * gain(behavior)`` where ``f`` is the output nonlinearity and
``gain = softplus(g) / log(2)`` with ``g`` from a small MLP (behaviour -> ``hidden_features``
ELU units -> one value per neuron). The last layer starts at zero, so every gain starts at
exactly 1 and the model starts as if it ignored behaviour; the gain is positive, so the
rate stays strictly positive. Applying the gain to the rate (not to the readout before the
nonlinearity) makes it a true multiplicative modulation of firing, like the gain changes
running and arousal cause in mouse V1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from neurotwin.errors import NeurotwinError


@dataclass(frozen=True)
class ModulatorConfig:
    """Configuration of the behaviour gain modulator.

    Attributes
    ----------
    enabled
        Use a modulator (the model then needs ``behavior`` in every batch).
    hidden_features
        Hidden ELU units shared by the neurons of a recording.
    gamma_modulator
        Weight of an L1 penalty on the per-neuron output weights.
    """

    enabled: bool = False
    hidden_features: int = 16
    gamma_modulator: float = 0.0

    def validate(self) -> None:
        """Raise :class:`~neurotwin.errors.NeurotwinError` on impossible values."""
        if self.hidden_features < 1:
            raise NeurotwinError("modulator.hidden_features must be positive")
        if self.gamma_modulator < 0:
            raise NeurotwinError("modulator.gamma_modulator must be >= 0")


class GainModulator(nn.Module):
    """Per-neuron gains from behaviour (see the module docstring).

    Parameters
    ----------
    config
        A :class:`ModulatorConfig`.
    behavior_dim
        Behaviour channels (3).
    n_neurons
        Neurons of the recording.
    """

    def __init__(self, config: ModulatorConfig, behavior_dim: int, n_neurons: int) -> None:
        super().__init__()
        self.config = config
        self.hidden = nn.Linear(behavior_dim, config.hidden_features)
        self.out = nn.Linear(config.hidden_features, n_neurons)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def gain(self, behavior: torch.Tensor) -> torch.Tensor:
        """Return ``(B, n_neurons)`` positive gains (1 at initialisation)."""
        return F.softplus(self.out(F.elu(self.hidden(behavior)))) / math.log(2.0)

    def forward(self, rate: torch.Tensor, behavior: torch.Tensor) -> torch.Tensor:
        """Multiply ``rate`` ``(B, n)`` by the gains of ``behavior`` ``(B, behavior_dim)``."""
        return rate * self.gain(behavior)

    def regularizer(self) -> torch.Tensor:
        """``gamma_modulator * sum(|output weights|)``."""
        return self.config.gamma_modulator * self.out.weight.abs().sum()
