"""Video cores: frame sequences ``(B, C, T, H, W)`` to feature sequences ``(B, C', T', h, w)``.

Two cores of the SENSORIUM 2023 starting kit (``ecker-lab/sensorium_2023``), with the
kit's published settings as defaults:

- :class:`GRUVideoCore` (``video-gru``): the 2022 CNN core
  (:class:`~neurotwin.models.cores.StackedCore2d`) applied to every frame on its own, then a
  convolutional GRU over time. Nothing is lost in time (``temporal_context`` 0); the hidden
  state carries the past.
- :class:`Factorized3dCore` (``video-3d``): per layer a spatial convolution ``(1, k, k)``
  then a temporal convolution ``(k_t, 1, 1)``, batch norm, ELU; all unpadded, so each layer
  loses ``k - 1`` pixels per side pair and ``k_t - 1`` frames at the start. The core
  declares the frames it loses as :attr:`VideoCore.temporal_context` (kit: 10 + 4 + 4 =
  18), and its output frame ``t`` depends on input frames ``t .. t + temporal_context``.

Both cores can run a long trial in pieces (:meth:`VideoCore.stream`): the state handed
from one piece to the next (the GRU's hidden state; the 3D core's last input frames) makes
the pieces' outputs equal to one pass over the whole trial.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neurotwin.errors import NeurotwinError
from neurotwin.models.cores import LAPLACE_3X3, DepthSeparableConv2d, StackedCore2d
from neurotwin.models.cores import StackedCoreConfig as _StackedCoreConfig

#: The 1-D second difference of the temporal smoothness penalty.
SECOND_DIFFERENCE = (1.0, -2.0, 1.0)


class VideoCore(nn.Module):
    """Base class of video cores (see the module docstring).

    Subclasses set ``config_class``, ``input_channels`` and ``out_channels``, are built as
    ``cls(config, input_channels)`` and implement :meth:`stream`, :meth:`output_hw` and
    :meth:`output_to_input`; they may override :meth:`regularizer` and
    :attr:`temporal_context`.
    """

    config_class: ClassVar[type]
    input_channels: int
    out_channels: int

    @property
    def temporal_context(self) -> int:
        """Frames at the start of an input without an output frame (0 by default)."""
        return 0

    def stream(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """Run one piece of a trial.

        Parameters
        ----------
        x
            ``(B, input_channels, T, H, W)`` the next frames.
        state
            What the previous piece returned; None at the start of a trial.

        Returns
        -------
        tuple
            Features ``(B, out_channels, T', h, w)`` of the last ``T'`` frames of ``x``
            (``T' = T - temporal_context`` at the start of a trial, ``T`` later), and the
            state to hand to the next piece.
        """
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``(B, out_channels, T - temporal_context, h, w)`` of a whole input."""
        return self.stream(x)[0]

    def regularizer(self) -> torch.Tensor:
        """Return the core's scalar penalty (zero by default)."""
        param = next(self.parameters())
        return param.new_zeros(())

    def output_hw(self, input_hw: tuple[int, int]) -> tuple[int, int]:
        """Return the spatial size of the features for frames of size ``input_hw``."""
        raise NotImplementedError

    def output_to_input(
        self, rows: np.ndarray, cols: np.ndarray, input_hw: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Map feature-grid pixel coordinates to input-frame pixel coordinates."""
        raise NotImplementedError


def _check_input(core: VideoCore, x: torch.Tensor) -> None:
    if x.ndim != 5 or x.shape[1] != core.input_channels:
        raise NeurotwinError(
            f"{type(core).__name__} takes (B, {core.input_channels}, T, H, W) frames, got "
            f"shape {tuple(x.shape)}"
        )


def _normalised_laplace(weight: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """``sum(laplace(w)^2) / sum(w^2)`` over every 2-D filter of ``weight`` (``(..., k, k)``)."""
    flat = weight.reshape(-1, 1, weight.shape[-2], weight.shape[-1])
    smooth = F.conv2d(flat, kernel.to(dtype=weight.dtype), padding=1)
    return smooth.pow(2).sum() / flat.pow(2).sum().clamp_min(1e-12)


# ---------------------------------------------------------------------- 2D core + ConvGRU
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
        for step in range(t):
            xz, xr, xc = drive[:, step].chunk(3, dim=1)
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
        self.spatial = nn.Conv3d(in_channels, channels, (1, kern, kern), bias=False)
        self.temporal = nn.Conv3d(channels, channels, (temporal_kern, 1, 1), bias=False)
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


#: The core class of each core configuration.
VIDEO_CORES: dict[type, type[VideoCore]] = {
    GRUCoreConfig: GRUVideoCore,
    Factorized3dCoreConfig: Factorized3dCore,
}


def build_video_core(config: Any, input_channels: int) -> VideoCore:
    """Build the video core a configuration describes.

    Parameters
    ----------
    config
        A :class:`GRUCoreConfig` or :class:`Factorized3dCoreConfig`.
    input_channels
        Channels per frame.

    Returns
    -------
    VideoCore
        The freshly initialised core.
    """
    cls = VIDEO_CORES.get(type(config))
    if cls is None:
        known = ", ".join(c.__name__ for c in VIDEO_CORES)
        raise NeurotwinError(f"no video core takes a {type(config).__name__}; known: {known}")
    return cls(config, input_channels)
