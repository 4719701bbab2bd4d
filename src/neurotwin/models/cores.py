"""Cores: the shared convolutional feature extractor of a twin.

:class:`StackedCore2d` is the core of the SENSORIUM 2022 starting kit (neuralpredictors
0.3.0 ``Stacked2dCore`` as configured by ``sensorium.models.stacked_core_full_gauss_readout``):

- layer 0: a ``input_kern`` x ``input_kern`` convolution without padding (the output is
  ``input_kern - 1`` pixels smaller in each dimension), batch norm, ELU;
- layers 1..L-1: depth-separable convolutions (1x1 into ``hidden_channels``, a
  ``hidden_kern`` x ``hidden_kern`` depthwise convolution padded to keep the size, 1x1
  out), batch norm, ELU (also after the last layer);
- no convolution bias (batch norm carries the offsets); only the last layer's output goes
  to the readout;
- batch norm ``momentum`` is passed to :class:`torch.nn.BatchNorm2d` as is, like
  neuralpredictors does: the kit's 0.9 means running statistics follow the latest batch
  closely (``running = 0.1 * running + 0.9 * batch``);
- penalty: ``gamma_input`` times the normalised Laplacian of the first layer's filters,
  ``sum(laplace(w)^2) / sum(w^2)`` (3x3 Laplacian, zero padding 1).

With ``linear=True`` every ELU is dropped (the kit's LN model). All operations keep the
channels-last memory format: call ``model.to(memory_format=torch.channels_last)`` and the
convolutions run in it (faster on CPU).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neurotwin.errors import NeurotwinError
from neurotwin.models.registry import register_core

#: The 3x3 Laplacian of the smoothness penalty.
LAPLACE_3X3 = ((0.0, -1.0, 0.0), (-1.0, 4.0, -1.0), (0.0, -1.0, 0.0))


class Core(nn.Module):
    """Base class of cores: images ``(B, C, H, W)`` to features ``(B, out_channels, h, w)``.

    Subclasses set ``config_class`` and ``out_channels``, are built as
    ``cls(config, input_channels)`` and implement :meth:`forward`; they may override
    :meth:`regularizer`, :meth:`output_hw` and :meth:`output_to_input`.
    """

    config_class: ClassVar[type]
    out_channels: int

    def regularizer(self) -> torch.Tensor:
        """Return the core's scalar penalty (zero by default)."""
        param = next(self.parameters(), None)
        return torch.zeros((), device=None if param is None else param.device)

    def output_hw(self, input_hw: tuple[int, int]) -> tuple[int, int]:
        """Return the spatial size of the features for images of size ``input_hw``.

        The default runs one blank image through the core in eval mode.
        """
        param = next(self.parameters())
        in_channels = getattr(self, "input_channels", 1)
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                out = self(param.new_zeros(1, in_channels, *input_hw))
        finally:
            self.train(was_training)
        return int(out.shape[-2]), int(out.shape[-1])

    def output_to_input(
        self, rows: np.ndarray, cols: np.ndarray, input_hw: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Map feature-grid pixel coordinates to input-image pixel coordinates.

        The default assumes a centred crop with a uniform integer stride.
        """
        out_h, out_w = self.output_hw(input_hw)
        mapped = []
        for values, n_in, n_out in ((rows, input_hw[0], out_h), (cols, input_hw[1], out_w)):
            stride = max(1, round(n_in / n_out))
            offset = (n_in - 1 - (n_out - 1) * stride) / 2
            mapped.append(np.asarray(values, dtype=np.float64) * stride + offset)
        return mapped[0], mapped[1]


@dataclass(frozen=True)
class StackedCoreConfig:
    """Configuration of :class:`StackedCore2d` (defaults: the 2022 kit's SOTA core).

    Attributes
    ----------
    hidden_channels
        Feature maps of every layer (kit: 64).
    layers
        Number of layers, the first included (kit: 4; LN model: 3).
    input_kern
        Kernel size of the first layer (kit: 9).
    hidden_kern
        Kernel size of the hidden layers (kit: 7); odd, padded to keep the size.
    depth_separable
        Depth-separable hidden layers (kit: True); plain convolutions otherwise.
    pad_input
        Zero-pad the first convolution to keep the image size (kit: False).
    batch_norm
        Batch norm after every convolution (kit: True).
    momentum
        Passed to :class:`torch.nn.BatchNorm2d` unchanged (kit: 0.9).
    bias
        Convolution biases in the hidden layers (and in the first without batch norm), as
        neuralpredictors' ``bias``; the kit models this package reproduces had none.
    linear
        Drop every nonlinearity (the kit's LN model).
    final_nonlinearity
        ELU after the last layer too (kit: True).
    gamma_input
        Weight of the Laplacian smoothness penalty on the first layer (kit: 6.3831).
    laplace_padding
        Zero padding of the Laplacian convolution; None means 1 (half its size, kit).
    """

    hidden_channels: int = 64
    layers: int = 4
    input_kern: int = 9
    hidden_kern: int = 7
    depth_separable: bool = True
    pad_input: bool = False
    batch_norm: bool = True
    momentum: float = 0.9
    bias: bool = False
    linear: bool = False
    final_nonlinearity: bool = True
    gamma_input: float = 6.3831
    laplace_padding: int | None = None

    def validate(self) -> None:
        """Raise :class:`~neurotwin.errors.NeurotwinError` on impossible values."""
        for name in ("hidden_channels", "layers", "input_kern", "hidden_kern"):
            if getattr(self, name) < 1:
                raise NeurotwinError(f"core.{name} must be positive, got {getattr(self, name)}")
        if self.hidden_kern % 2 == 0:
            raise NeurotwinError(f"core.hidden_kern must be odd, got {self.hidden_kern}")
        if self.pad_input and self.input_kern % 2 == 0:
            raise NeurotwinError("core.input_kern must be odd with pad_input")
        if not 0.0 <= self.momentum <= 1.0:
            raise NeurotwinError(f"core.momentum must lie in 0..1, got {self.momentum}")
        if self.gamma_input < 0:
            raise NeurotwinError(f"core.gamma_input must be >= 0, got {self.gamma_input}")
        if self.laplace_padding is not None and self.laplace_padding < 0:
            raise NeurotwinError("core.laplace_padding must be >= 0")


class DepthSeparableConv2d(nn.Module):
    """A 1x1 convolution, a depthwise ``k`` x ``k`` convolution and a 1x1 convolution.

    Parameters
    ----------
    in_channels, out_channels
        Channels in and out.
    kernel_size
        Size of the depthwise kernel (odd; padded to keep the spatial size).
    bias
        Biases in all three convolutions.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool) -> None:
        super().__init__()
        self.in_depth = nn.Conv2d(in_channels, out_channels, 1, bias=bias)
        self.spatial = nn.Conv2d(
            out_channels,
            out_channels,
            kernel_size,
            padding=kernel_size // 2,
            groups=out_channels,
            bias=bias,
        )
        self.out_depth = nn.Conv2d(out_channels, out_channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the three convolutions."""
        return self.out_depth(self.spatial(self.in_depth(x)))


class ConvBlock(nn.Module):
    """One core layer: convolution, optional batch norm, optional ELU."""

    def __init__(self, conv: nn.Module, channels: int, config: StackedCoreConfig, act: bool):
        super().__init__()
        self.conv = conv
        self.norm: nn.Module = (
            nn.BatchNorm2d(channels, momentum=config.momentum)
            if config.batch_norm
            else nn.Identity()
        )
        self.act: nn.Module = nn.ELU() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply convolution, norm and nonlinearity."""
        return self.act(self.norm(self.conv(x)))


@register_core("stacked2d")
class StackedCore2d(Core):
    """The 2022 starting kit's stacked 2D CNN core (see the module docstring).

    Parameters
    ----------
    config
        A :class:`StackedCoreConfig`.
    input_channels
        Image channels (1, or 4 with behaviour as extra channels).
    """

    config_class = StackedCoreConfig
    laplace_kernel: torch.Tensor

    def __init__(self, config: StackedCoreConfig, input_channels: int) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.input_channels = input_channels
        self.out_channels = config.hidden_channels
        c = config.hidden_channels
        blocks = []
        for index in range(config.layers):
            last = index == config.layers - 1
            act = not config.linear and (not last or config.final_nonlinearity)
            conv: nn.Module
            if index == 0:
                conv = nn.Conv2d(
                    input_channels,
                    c,
                    config.input_kern,
                    padding=config.input_kern // 2 if config.pad_input else 0,
                    bias=config.bias and not config.batch_norm,
                )
            elif config.depth_separable:
                conv = DepthSeparableConv2d(c, c, config.hidden_kern, config.bias)
            else:
                conv = nn.Conv2d(
                    c, c, config.hidden_kern, padding=config.hidden_kern // 2, bias=config.bias
                )
            blocks.append(ConvBlock(conv, c, config, act))
        self.layers = nn.ModuleList(blocks)
        kernel = torch.tensor(LAPLACE_3X3, dtype=torch.float32).view(1, 1, 3, 3)
        self.register_buffer("laplace_kernel", kernel, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-normal convolution weights and zero biases (as neuralpredictors)."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.xavier_normal_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    @property
    def first_weight(self) -> torch.Tensor:
        """Weights of the first convolution, ``(hidden_channels, input_channels, k, k)``."""
        conv = self.layers[0].conv
        assert isinstance(conv, nn.Conv2d)
        return conv.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the last layer's features ``(B, hidden_channels, h, w)``."""
        for block in self.layers:
            x = block(x)
        return x

    def laplace(self) -> torch.Tensor:
        """Normalised Laplacian penalty of the first layer's filters (without gamma)."""
        w = self.first_weight
        flat = w.reshape(-1, 1, w.shape[-2], w.shape[-1])
        padding = 1 if self.config.laplace_padding is None else self.config.laplace_padding
        kernel = self.laplace_kernel.to(dtype=w.dtype)
        smooth = F.conv2d(flat, kernel, padding=padding)
        return smooth.pow(2).sum() / flat.pow(2).sum()

    def regularizer(self) -> torch.Tensor:
        """``gamma_input * laplace()``."""
        return self.config.gamma_input * self.laplace()

    def output_hw(self, input_hw: tuple[int, int]) -> tuple[int, int]:
        """Feature size: the unpadded first convolution crops ``input_kern - 1`` pixels."""
        crop = 0 if self.config.pad_input else self.config.input_kern - 1
        h, w = input_hw[0] - crop, input_hw[1] - crop
        if h < 1 or w < 1:
            raise NeurotwinError(
                f"images of {input_hw[0]}x{input_hw[1]} pixels are too small for a "
                f"{self.config.input_kern}x{self.config.input_kern} unpadded first layer"
            )
        return h, w

    def output_to_input(
        self, rows: np.ndarray, cols: np.ndarray, input_hw: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Feature pixel ``(r, c)`` is centred on input pixel ``(r + k//2, c + k//2)``."""
        offset = 0 if self.config.pad_input else (self.config.input_kern - 1) / 2
        return (
            np.asarray(rows, dtype=np.float64) + offset,
            np.asarray(cols, dtype=np.float64) + offset,
        )
