"""The ``video-gru`` core: the 2022 CNN core on every frame, then a convolutional GRU."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from neurotwin.errors import NeurotwinError
from neurotwin.models.cores import DepthSeparableConv2d, StackedCore2d
from neurotwin.models.cores import StackedCoreConfig as _StackedCoreConfig
from neurotwin.models.video_core_base import VideoCore, _check_input


@dataclass(frozen=True)
class GRUCoreConfig:
    """Configuration of :class:`GRUVideoCore` (defaults: the 2023 kit's GRU baseline).

    Attributes
    ----------
    hidden_channels
        Feature maps of every 2-D layer (kit: 64).
    layers
        Layers of the 2-D core (kit: 4).
    input_kern
        Kernel of the first, unpadded 2-D layer (kit: 9).
    hidden_kern
        Kernel of the hidden 2-D layers (kit: 7).
    depth_separable
        Depth-separable hidden 2-D layers (as the 2022 kit core).
    momentum
        Batch norm momentum, passed to torch unchanged (kit: 0.9).
    gamma_input
        Weight of the normalised Laplacian penalty on the first layer (kit: 500).
    gamma_hidden
        Weight of the group-sparsity penalty on the hidden layers' spatial kernels (kit:
        5e5): the mean over kernels of each kernel's L2 norm, averaged over the layers.
    gru_channels
        Channels of the GRU's hidden state (kit: 64).
    gru_input_kern
        Kernel of the GRU's input convolutions (kit: 7; one notebook: 9).
    gru_recurrent_kern
        Kernel of the GRU's recurrent convolutions (kit: 7; one notebook: 9).
    """

    hidden_channels: int = 64
    layers: int = 4
    input_kern: int = 9
    hidden_kern: int = 7
    depth_separable: bool = True
    momentum: float = 0.9
    gamma_input: float = 500.0
    gamma_hidden: float = 5e5
    gru_channels: int = 64
    gru_input_kern: int = 7
    gru_recurrent_kern: int = 7

    def frame_core(self) -> _StackedCoreConfig:
        """Return the settings of the frame-wise 2-D core."""
        return _StackedCoreConfig(
            hidden_channels=self.hidden_channels,
            layers=self.layers,
            input_kern=self.input_kern,
            hidden_kern=self.hidden_kern,
            depth_separable=self.depth_separable,
            momentum=self.momentum,
            gamma_input=self.gamma_input,
        )

    def validate(self) -> None:
        """Raise :class:`~neurotwin.errors.NeurotwinError` on impossible values."""
        self.frame_core().validate()
        if self.gamma_hidden < 0:
            raise NeurotwinError(f"core.gamma_hidden must be >= 0, got {self.gamma_hidden}")
        if self.gru_channels < 1:
            raise NeurotwinError(f"core.gru_channels must be positive, got {self.gru_channels}")
        for name in ("gru_input_kern", "gru_recurrent_kern"):
            k = getattr(self, name)
            if k < 1 or k % 2 == 0:
                raise NeurotwinError(f"core.{name} must be odd and positive, got {k}")


class ConvGRUCell(nn.Module):
    """A convolutional GRU step: gates and candidate from convolutions of input and state.

    ``z = sigmoid(W_z x + U_z h)``, ``r = sigmoid(W_r x + U_r h)``,
    ``c = tanh(W_c x + U_c (r * h))``, ``h' = (1 - z) * h + z * c``; every convolution is
    padded to keep the size. The input convolutions of all frames run in one call.

    Parameters
    ----------
    in_channels, channels
        Input and hidden-state channels.
    input_kern, recurrent_kern
        Odd kernel sizes of the input and recurrent convolutions.
    """

    def __init__(
        self, in_channels: int, channels: int, input_kern: int, recurrent_kern: int
    ) -> None:
        super().__init__()
        self.channels = channels
        self.input_conv = nn.Conv2d(in_channels, 3 * channels, input_kern, padding=input_kern // 2)
        self.gate_conv = nn.Conv2d(
            channels, 2 * channels, recurrent_kern, padding=recurrent_kern // 2, bias=False
        )
        self.candidate_conv = nn.Conv2d(
            channels, channels, recurrent_kern, padding=recurrent_kern // 2, bias=False
        )

    def forward(self, x: torch.Tensor, h: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Run over time.

        Parameters
        ----------
        x
            ``(B, T, in_channels, H, W)`` frames.
        h
            ``(B, channels, H, W)`` state before the first frame; None means zeros.

        Returns
        -------
        tuple
            States after every frame ``(B, T, channels, H, W)`` and after the last one.
        """
        b, t = x.shape[:2]
        drive = self.input_conv(x.reshape(b * t, *x.shape[2:])).reshape(b, t, -1, *x.shape[3:])
        if h is None:
            h = x.new_zeros(b, self.channels, *x.shape[3:])
        out = []
        # unbind, not drive[:, step]: the backward of one indexing per frame would zero-fill
        # a gradient of the whole window at every frame (quadratic in the window length)
        for frame in drive.unbind(1):
            xz, xr, xc = frame.chunk(3, dim=1)
            hz, hr = self.gate_conv(h).chunk(2, dim=1)
            z = torch.sigmoid(xz + hz)
            r = torch.sigmoid(xr + hr)
            c = torch.tanh(xc + self.candidate_conv(r * h))
            h = (1 - z) * h + z * c
            out.append(h)
        return torch.stack(out, dim=1), h


class GRUVideoCore(VideoCore):
    """The 2022 CNN core on every frame, then a convolutional GRU over time.

    Parameters
    ----------
    config
        A :class:`GRUCoreConfig`.
    input_channels
        Channels per frame (1, plus behaviour and pupil-centre channels).
    """

    config_class = GRUCoreConfig

    def __init__(self, config: GRUCoreConfig, input_channels: int) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.input_channels = input_channels
        self.frame_core = StackedCore2d(config.frame_core(), input_channels)
        self.gru = ConvGRUCell(
            config.hidden_channels,
            config.gru_channels,
            config.gru_input_kern,
            config.gru_recurrent_kern,
        )
        self.out_channels = config.gru_channels

    def stream(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """See :meth:`VideoCore.stream`; the state is the GRU's ``(B, C, h, w)`` state."""
        _check_input(self, x)
        b, c, t, height, width = x.shape
        frames = x.transpose(1, 2).reshape(b * t, c, height, width)
        features = self.frame_core(frames)
        features = features.reshape(b, t, *features.shape[1:])
        states, last = self.gru(features, state)
        return states.transpose(1, 2), last

    def group_sparsity(self) -> torch.Tensor:
        """Mean L2 norm of the hidden 2-D layers' spatial kernels, averaged over layers."""
        norms = []
        for block in list(self.frame_core.layers)[1:]:
            conv = block.conv
            spatial = conv.spatial if isinstance(conv, DepthSeparableConv2d) else conv
            assert isinstance(spatial, nn.Conv2d)
            norms.append(spatial.weight.pow(2).sum(dim=(2, 3)).sqrt().mean())
        if not norms:
            return self.frame_core.first_weight.new_zeros(())
        return torch.stack(norms).mean()

    def regularizer(self) -> torch.Tensor:
        """``gamma_input * laplace + gamma_hidden * group_sparsity``."""
        return self.frame_core.regularizer() + self.config.gamma_hidden * self.group_sparsity()

    def output_hw(self, input_hw: tuple[int, int]) -> tuple[int, int]:
        """Crop as the 2-D core: its unpadded first layer loses ``input_kern - 1`` pixels."""
        return self.frame_core.output_hw(input_hw)

    def output_to_input(
        self, rows: np.ndarray, cols: np.ndarray, input_hw: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """As the 2-D core: the GRU keeps the size."""
        return self.frame_core.output_to_input(rows, cols, input_hw)
