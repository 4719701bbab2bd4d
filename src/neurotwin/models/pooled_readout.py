"""The pooled-features readout: one grouped 1x1 layer per recording on per-frame feature vectors.

A second readout family beside the Gaussian one (:mod:`neurotwin.models.readouts`): it
needs no receptive-field positions. Each frame's feature vector (a core's feature maps
pooled over space, then the per-frame "cortex" of ``video-dwise``) goes through dropout of
whole channels, a grouped 1x1 convolution to the recording's neurons and a Softplus with a
small ``beta``, the readout of the SENSORIUM 2023 winner (``DwiseNeuro``; its ``beta`` of
0.07 was found by grid search).

::

    features (B, C, T) -> Dropout1d(p) -> Conv1d(C, n, 1, groups=g) -> Softplus(beta)
      -> rates (B, T, n)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neurotwin.errors import NeurotwinError
from neurotwin.models.info import RecordingInfo


@dataclass(frozen=True)
class PooledReadoutConfig:
    """Settings of :class:`PooledReadout` (defaults: the 2023 winner's).

    Attributes
    ----------
    dropout
        Probability of zeroing a whole feature channel in training (winner: 0.4).
    groups
        Groups of the 1x1 convolution (winner: 2): group ``g`` of the neurons reads only
        channel group ``g``.
    softplus_beta
        ``beta`` of the output Softplus, ``log(1 + exp(beta * x)) / beta`` (winner: 0.07).
    """

    dropout: float = 0.4
    groups: int = 2
    softplus_beta: float = 0.07

    def validate(self) -> None:
        """Raise :class:`~neurotwin.errors.NeurotwinError` on impossible values."""
        if not 0.0 <= self.dropout < 1.0:
            raise NeurotwinError(f"readout dropout must lie in [0, 1), got {self.dropout}")
        if isinstance(self.groups, bool) or not isinstance(self.groups, int) or self.groups < 1:
            raise NeurotwinError(f"readout groups must be a positive integer, got {self.groups!r}")
        if not 0.0 < self.softplus_beta < math.inf:
            raise NeurotwinError(f"softplus_beta must be positive, got {self.softplus_beta}")


def inverse_softplus(rate: np.ndarray, beta: float) -> np.ndarray:
    """Return ``x`` with ``softplus(x, beta) == rate`` (rates floored at 1e-3, NaN as 1).

    Parameters
    ----------
    rate
        Target rates (e.g. each neuron's mean response).
    beta
        The Softplus ``beta``.

    Returns
    -------
    numpy.ndarray
        float64 values; linear above ``beta * rate > 20`` where the Softplus is.
    """
    r = np.asarray(rate, dtype=np.float64)
    r = np.maximum(np.where(np.isfinite(r), r, 1.0), 1e-3)
    scaled = beta * r
    return np.where(scaled > 20.0, r, np.log(np.expm1(np.minimum(scaled, 20.0))) / beta)


class PooledReadout(nn.Module):
    """Per-frame responses of one recording from pooled feature vectors (module docstring).

    Parameters
    ----------
    config
        A :class:`PooledReadoutConfig`.
    info
        The recording's info (neuron count, mean response for the bias).
    in_channels
        Channels of the feature vectors; a multiple of ``config.groups``.

    Raises
    ------
    NeurotwinError
        Channels that the groups do not divide, or impossible settings.

    Notes
    -----
    A neuron count that the groups do not divide is padded up to a multiple of
    ``groups`` inside the convolution; the extra outputs are dropped.
    """

    def __init__(self, config: PooledReadoutConfig, info: RecordingInfo, in_channels: int) -> None:
        super().__init__()
        config.validate()
        if in_channels % config.groups:
            raise NeurotwinError(
                f"the pooled readout's {config.groups} groups must divide its {in_channels} "
                "input channels"
            )
        self.config = config
        self.n_neurons = info.n_neurons
        padded = -(-info.n_neurons // config.groups) * config.groups
        self.dropout = nn.Dropout1d(config.dropout)
        self.linear = nn.Conv1d(in_channels, padded, 1, groups=config.groups, bias=True)
        nn.init.kaiming_normal_(self.linear.weight, mode="fan_out")
        bias = np.zeros(padded)
        bias[: info.n_neurons] = inverse_softplus(info.mean_response, config.softplus_beta)
        with torch.no_grad():
            self.linear.weight.mul_(1e-2)  # start near the mean responses
            assert self.linear.bias is not None
            self.linear.bias.copy_(torch.from_numpy(bias))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Rates ``(B, T, n)`` from feature vectors ``(B, C, T)``."""
        values = self.linear(self.dropout(features))[:, : self.n_neurons]
        return F.softplus(values, beta=self.config.softplus_beta).transpose(1, 2)

    def regularizer(self) -> torch.Tensor:
        """No penalty (the recipe's weight decay regularises the layer)."""
        return self.linear.weight.new_zeros(())
