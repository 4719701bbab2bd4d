"""The ``video-3d`` core: factorised (spatial then temporal) unpadded 3D convolutions."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neurotwin.errors import NeurotwinError
from neurotwin.models.cores import LAPLACE_3X3
from neurotwin.models.factorised_conv import FactorisedConv3d
from neurotwin.models.video_core_base import (
    SECOND_DIFFERENCE,
    VideoCore,
    _check_input,
    _normalised_laplace,
)


# ---------------------------------------------------------------------- factorised 3D core
@dataclass(frozen=True)
class Factorized3dCoreConfig:
    """Configuration of :class:`Factorized3dCore` (defaults: the 2023 kit's 3D baseline).

    Attributes
    ----------
    hidden_channels
        Output channels of each layer (kit: 32, 64, 128); its length is the layer count.
    spatial_input_kern, spatial_hidden_kern
        Spatial kernels of the first and the other layers (kit: 11, 5).
    temporal_input_kern, temporal_hidden_kern
        Temporal kernels of the first and the other layers (kit: 11, 5).
    momentum
        Batch norm momentum, passed to torch unchanged (kit: 0.7).
    gamma_input_spatial
        Weight of the normalised Laplacian penalty on the first layer's spatial filters
        (kit: 10).
    gamma_input_temporal
        Weight of the normalised second-difference penalty on the first layer's temporal
        filters (kit: 0.01).
    final_nonlinearity
        ELU after the last layer too (kit: True).
    """

    hidden_channels: tuple[int, ...] = (32, 64, 128)
    spatial_input_kern: int = 11
    spatial_hidden_kern: int = 5
    temporal_input_kern: int = 11
    temporal_hidden_kern: int = 5
    momentum: float = 0.7
    gamma_input_spatial: float = 10.0
    gamma_input_temporal: float = 0.01
    final_nonlinearity: bool = True

    def validate(self) -> None:
        """Raise :class:`~neurotwin.errors.NeurotwinError` on impossible values."""
        if not self.hidden_channels or min(self.hidden_channels) < 1:
            raise NeurotwinError(
                f"core.hidden_channels must be positive channel counts, got {self.hidden_channels}"
            )
        for f in dataclasses.fields(self):
            if f.name.endswith("_kern") and getattr(self, f.name) < 1:
                raise NeurotwinError(f"core.{f.name} must be positive, got {getattr(self, f.name)}")
        if not 0.0 <= self.momentum <= 1.0:
            raise NeurotwinError(f"core.momentum must lie in 0..1, got {self.momentum}")
        if self.gamma_input_spatial < 0 or self.gamma_input_temporal < 0:
            raise NeurotwinError("core.gamma_input_spatial and gamma_input_temporal must be >= 0")

    def kernels(self) -> list[tuple[int, int]]:
        """``(spatial, temporal)`` kernel of every layer."""
        first = (self.spatial_input_kern, self.temporal_input_kern)
        hidden = (self.spatial_hidden_kern, self.temporal_hidden_kern)
        return [first] + [hidden] * (len(self.hidden_channels) - 1)


class Factorized3dLayer(nn.Module):
    """Spatial ``(1, k, k)`` then temporal ``(k_t, 1, 1)`` convolution, batch norm, ELU."""

    def __init__(
        self,
        in_channels: int,
        channels: int,
        kern: int,
        temporal_kern: int,
        momentum: float,
        act: bool,
    ) -> None:
        super().__init__()
        self.spatial = FactorisedConv3d(in_channels, channels, (1, kern, kern), bias=False)
        self.temporal = FactorisedConv3d(channels, channels, (temporal_kern, 1, 1), bias=False)
        self.norm = nn.BatchNorm3d(channels, momentum=momentum)
        self.act: nn.Module = nn.ELU() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply both convolutions, the norm and the nonlinearity."""
        return self.act(self.norm(self.temporal(self.spatial(x))))


class Factorized3dCore(VideoCore):
    """The 2023 kit's factorised 3D core (see the module docstring).

    Parameters
    ----------
    config
        A :class:`Factorized3dCoreConfig`.
    input_channels
        Channels per frame (1, plus behaviour and pupil-centre channels).
    """

    config_class = Factorized3dCoreConfig
    laplace_kernel: torch.Tensor
    difference_kernel: torch.Tensor

    def __init__(self, config: Factorized3dCoreConfig, input_channels: int) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.input_channels = input_channels
        layers = []
        n_in = input_channels
        for index, (channels, (kern, temporal)) in enumerate(
            zip(config.hidden_channels, config.kernels(), strict=True)
        ):
            last = index == len(config.hidden_channels) - 1
            act = not last or config.final_nonlinearity
            layers.append(Factorized3dLayer(n_in, channels, kern, temporal, config.momentum, act))
            n_in = channels
        self.layers = nn.ModuleList(layers)
        self.out_channels = n_in
        self._context = sum(t - 1 for _, t in config.kernels())
        self.register_buffer(
            "laplace_kernel", torch.tensor(LAPLACE_3X3).view(1, 1, 3, 3), persistent=False
        )
        self.register_buffer(
            "difference_kernel", torch.tensor(SECOND_DIFFERENCE).view(1, 1, 3), persistent=False
        )
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.xavier_normal_(module.weight)

    @property
    def temporal_context(self) -> int:
        """``sum(k_t - 1)`` over the layers (kit: 18)."""
        return self._context

    def stream(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """See :meth:`VideoCore.stream`; the state is the last ``temporal_context`` input frames."""
        _check_input(self, x)
        if state is not None:
            x = torch.cat([state, x], dim=2)
        tail = x[:, :, max(0, x.shape[2] - self._context) :] if self._context else x[:, :, :0]
        if x.shape[2] <= self._context:  # too few frames for an output yet
            b = x.shape[0]
            h, w = self.output_hw((x.shape[3], x.shape[4]))
            return x.new_zeros(b, self.out_channels, 0, h, w), tail
        for layer in self.layers:
            x = layer(x)
        return x, tail

    def spatial_laplace(self) -> torch.Tensor:
        """Normalised Laplacian of the first layer's spatial filters (without gamma)."""
        layer = self.layers[0]
        assert isinstance(layer, Factorized3dLayer)
        return _normalised_laplace(layer.spatial.weight, self.laplace_kernel)

    def temporal_smoothness(self) -> torch.Tensor:
        """Normalised squared second difference of the first layer's temporal filters."""
        layer = self.layers[0]
        assert isinstance(layer, Factorized3dLayer)
        w = layer.temporal.weight
        flat = w.reshape(-1, 1, w.shape[2])
        if flat.shape[-1] < 3:
            return w.new_zeros(())
        rough = F.conv1d(flat, self.difference_kernel.to(dtype=w.dtype))
        return rough.pow(2).sum() / flat.pow(2).sum().clamp_min(1e-12)

    def regularizer(self) -> torch.Tensor:
        """``gamma_input_spatial * spatial_laplace + gamma_input_temporal * smoothness``."""
        return (
            self.config.gamma_input_spatial * self.spatial_laplace()
            + self.config.gamma_input_temporal * self.temporal_smoothness()
        )

    def _crop(self) -> int:
        return sum(k - 1 for k, _ in self.config.kernels())

    def output_hw(self, input_hw: tuple[int, int]) -> tuple[int, int]:
        """Every unpadded spatial kernel ``k`` crops ``k - 1`` pixels (kit: 36x64 -> 18x46)."""
        crop = self._crop()
        h, w = input_hw[0] - crop, input_hw[1] - crop
        if h < 1 or w < 1:
            raise NeurotwinError(
                f"frames of {input_hw[0]}x{input_hw[1]} pixels are too small for the 3D "
                f"core's unpadded spatial kernels (they crop {crop} pixels)"
            )
        return h, w

    def output_to_input(
        self, rows: np.ndarray, cols: np.ndarray, input_hw: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Feature pixel ``(r, c)`` is centred on input pixel ``(r + crop/2, c + crop/2)``."""
        offset = self._crop() / 2
        return (
            np.asarray(rows, dtype=np.float64) + offset,
            np.asarray(cols, dtype=np.float64) + offset,
        )
