"""``video-dwise``: a depthwise-separable 3D inverted-residual core of the 2023 winner's class.

The SENSORIUM 2023 winner (``DwiseNeuro``, facts in ``shared/spec/video-models.md``) beat
the kit's baselines by about 50% with this kind of network; the code here is neurotwin's::

    videos (B, 1, T, H, W) + behaviour (B, C, T) + pupil centre (B, 2, T) as constant planes
      -> zero-padded to a centred square (optional)
      -> stem: 1x1x1 conv, batch norm
      -> blocks: + 3-D sinusoidal positional encoding, then an inverted residual:
         1x1x1 expansion, BN, SiLU -> depthwise (1, 3, 3) spatial (strided), BN, SiLU
         -> depthwise (5, 1, 1) temporal (dilated by the frame stride), BN, SiLU
         -> squeeze-excitation -> 1x1x1 projection, BN -> stochastic depth
         + a parameter-free shortcut (nearest resize, channel tiling, BN)
      -> readout "pooled" (default): mean over space -> cortex (grouped 1x1 Conv1d layers
         per frame) -> per-recording PooledReadout (dropout, grouped 1x1, Softplus beta 0.07)
      -> or readout "gaussian": the video twins' per-frame Gaussian readout (+ shifter) on
         the last feature maps, ELU + 1
      -> rates (B, T, n): every frame has a prediction (``temporal_context`` 0)

The model sees fixed windows of :attr:`DwiseTwin.window_frames` frames
(``window * frame_stride``). The winner took 16 frames every 2nd frame; here the frame
stride is the dilation of the temporal convolutions and the spacing of the positional
encoding in time, so one pass over a window computes every phase of the stride at once and
every frame gets a prediction. A longer input (a whole trial) is cut into windows that
overlap by ``window_frames - slide_step`` frames, each frame's predictions averaged
(:func:`neurotwin.models.video_inference.sliding_windows`): the model's output for any
length is defined that way, in training and in evaluation, so the trainer's validation,
ensembles and the submission code need nothing special.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neurotwin.errors import NeurotwinError
from neurotwin.models.factorised_conv import FactorisedConv3d
from neurotwin.models.info import RecordingInfo
from neurotwin.models.pooled_readout import PooledReadout, PooledReadoutConfig
from neurotwin.models.readouts import FullGaussianReadout, inverse_nonlinearity, readout_centres
from neurotwin.models.registry import register_builder, register_model
from neurotwin.models.shifter import Shifter, ShifterConfig
from neurotwin.models.video_twin import VideoInputTwin, VideoTwinConfig

#: Readout families of ``video-dwise``.
ReadoutKind = Literal["pooled", "gaussian"]

#: Windows of frames run through the network at once when sliding over a long input.
WINDOWS_PER_PASS = 8


@dataclass(frozen=True)
class DwiseCoreConfig:
    """Settings of :class:`DwiseCore` and its cortex (defaults: the 2023 winner's sizes).

    Attributes
    ----------
    widths
        Output channels of every block (winner: 64 x4, 128 x3, 256 x2); its length is the
        depth. The stem maps the input to ``widths[0]`` channels.
    strides
        Spatial stride of every block (winner: 2, 1, 1, 1, 2, 1, 1, 2, 1; 64x64 -> 8x8).
        Time is never strided.
    expansion
        Expansion factor of every block's 1x1x1 layer (winner: 7 in the first stage of
        64 channels, 6 after).
    spatial_kernel, temporal_kernel
        Depthwise kernels (winner: (1, 3, 3) and (5, 1, 1)); odd, padded to keep the size.
    se_reduction
        Squeeze-excitation: the gate's hidden layer has ``expanded // se_reduction``
        channels (winner: 32).
    drop_path
        Stochastic depth of the last block; it rises linearly from 0 over the blocks
        (winner: 0.1).
    window
        Frames in a window as the network sees them (winner: 16).
    frame_stride
        Frames between two seen frames (winner: 2): the temporal convolutions' dilation.
        A window spans ``window * frame_stride`` recorded frames.
    slide_step
        Step in recorded frames between the windows slid over a longer input (overlapping
        predictions are averaged); None: half a window. The winner slid by 1.
    pad_square
        Zero-pad frames to a centred square first (winner: 36x64 -> 64x64).
    cortex_channels
        Widths of the per-frame "cortex" of grouped 1x1 Conv1d layers after pooling
        (winner: 1024, 2048, 4096); empty: none. Used by the pooled readout only.
    cortex_groups
        Groups of the cortex layers (winner: 2); the layers shuffle channels between groups.
    momentum
        Batch norm momentum (torch's convention).
    """

    widths: tuple[int, ...] = (64, 64, 64, 64, 128, 128, 128, 256, 256)
    strides: tuple[int, ...] = (2, 1, 1, 1, 2, 1, 1, 2, 1)
    expansion: tuple[int, ...] = (7, 7, 7, 7, 6, 6, 6, 6, 6)
    spatial_kernel: int = 3
    temporal_kernel: int = 5
    se_reduction: int = 32
    drop_path: float = 0.1
    window: int = 16
    frame_stride: int = 2
    slide_step: int | None = None
    pad_square: bool = True
    cortex_channels: tuple[int, ...] = (1024, 2048, 4096)
    cortex_groups: int = 2
    momentum: float = 0.1

    def validate(self) -> None:
        """Raise :class:`~neurotwin.errors.NeurotwinError` on impossible values."""
        depth = len(self.widths)
        if not depth or min(self.widths) < 1:
            raise NeurotwinError(f"core.widths must be positive channel counts, got {self.widths}")
        for name in ("strides", "expansion"):
            values = getattr(self, name)
            if len(values) != depth or min(values) < 1:
                raise NeurotwinError(
                    f"core.{name} needs {depth} positive values (one per block of core.widths), "
                    f"got {values}"
                )
        for name in ("spatial_kernel", "temporal_kernel"):
            value = getattr(self, name)
            if value < 1 or value % 2 == 0:
                raise NeurotwinError(f"core.{name} must be a positive odd number, got {value}")
        positive = ("se_reduction", "window", "frame_stride", "cortex_groups")
        for name in positive:
            if getattr(self, name) < 1:
                raise NeurotwinError(f"core.{name} must be positive, got {getattr(self, name)}")
        if not 0.0 <= self.drop_path < 1.0:
            raise NeurotwinError(f"core.drop_path must lie in [0, 1), got {self.drop_path}")
        if self.slide_step is not None and not 1 <= self.slide_step <= self.window_frames:
            raise NeurotwinError(
                f"core.slide_step must lie in 1..{self.window_frames} (a window), got "
                f"{self.slide_step}"
            )
        for width in (self.widths[-1], *self.cortex_channels):
            if width % self.cortex_groups:
                raise NeurotwinError(
                    f"core.cortex_groups ({self.cortex_groups}) must divide the last block's "
                    f"width and every cortex width, not {width}"
                )
        if not 0.0 <= self.momentum <= 1.0:
            raise NeurotwinError(f"core.momentum must lie in 0..1, got {self.momentum}")

    @property
    def window_frames(self) -> int:
        """Recorded frames a window spans: ``window * frame_stride``."""
        return self.window * self.frame_stride

    @property
    def step(self) -> int:
        """The sliding step in recorded frames (``slide_step`` or half a window)."""
        return self.slide_step or max(1, self.window_frames // 2)

    @property
    def total_stride(self) -> int:
        """Product of the spatial strides."""
        return math.prod(self.strides)


def _pooled() -> PooledReadoutConfig:
    return PooledReadoutConfig()


def _no_shifter() -> ShifterConfig:
    return ShifterConfig(enabled=False)


@dataclass(frozen=True)
class DwiseConfig(VideoTwinConfig):
    """Settings of ``video-dwise``: a :class:`DwiseCoreConfig` and the readout to use.

    Attributes
    ----------
    core
        The core, cortex and window (:class:`DwiseCoreConfig`).
    readout_kind
        ``"pooled"`` (the winner's: pooled features, cortex, :class:`PooledReadout`) or
        ``"gaussian"`` (the video twins' per-frame Gaussian readout on the last feature maps,
        configured by ``readout`` and ``shifter``, ELU + 1).
    pooled
        Settings of the pooled readout.
    """

    core: DwiseCoreConfig = field(default_factory=DwiseCoreConfig)
    readout_kind: ReadoutKind = "pooled"
    pooled: PooledReadoutConfig = field(default_factory=_pooled)
    shifter: ShifterConfig = field(default_factory=_no_shifter)

    def validate(self) -> None:
        """Raise :class:`~neurotwin.errors.NeurotwinError` on impossible values."""
        super().validate()
        self.pooled.validate()
        if self.readout_kind not in ("pooled", "gaussian"):
            raise NeurotwinError(
                f"readout_kind must be 'pooled' or 'gaussian', got {self.readout_kind!r}"
            )
        if self.shifter.enabled and self.readout_kind != "gaussian":
            raise NeurotwinError(
                "a shifter moves Gaussian readout positions: readout_kind='gaussian'"
            )


# ---------------------------------------------------------------------- parts
def positional_encoding(
    channels: int, t: int, h: int, w: int, time_scale: float, like: torch.Tensor
) -> torch.Tensor:
    """3-D sinusoidal absolute positional encoding ``(channels, t, h, w)``.

    A third of the channels (an even number each) encodes time, height and width by sines
    and cosines of geometrically spaced frequencies (as in the transformer's 1-D encoding);
    channels left over stay zero. Time positions are frame numbers divided by
    ``time_scale`` (the frame stride), so a window's encoding spans the same range whatever
    the stride.
    """
    per_axis = 2 * (channels // 6)
    out = like.new_zeros(channels, t, h, w)
    if per_axis == 0:
        return out
    half = per_axis // 2
    freqs = torch.exp(
        -math.log(10000.0) * torch.arange(half, device=like.device, dtype=like.dtype) / half
    )
    sizes = (t, h, w)
    for axis, size in enumerate(sizes):
        pos = torch.arange(size, device=like.device, dtype=like.dtype)
        if axis == 0:
            pos = pos / time_scale
        angles = pos[:, None] * freqs[None, :]
        table = torch.cat([angles.sin(), angles.cos()], dim=1).T  # (per_axis, size)
        shape = [per_axis, 1, 1, 1]
        shape[axis + 1] = size
        start = axis * per_axis
        out[start : start + per_axis] = table.reshape(shape).expand(per_axis, t, h, w)
    return out


def drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zero a sample's branch with probability ``rate``, scale the rest."""
    if not training or rate == 0.0:
        return x
    keep = 1.0 - rate
    mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
    return x * mask / keep


def tile_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Repeat ``x``'s channels (dim 1) until there are ``channels`` of them, then cut."""
    have = x.shape[1]
    if have == channels:
        return x
    repeats = -(-channels // have)
    return x.repeat(1, repeats, *([1] * (x.ndim - 2)))[:, :channels]


class SqueezeExcitation3d(nn.Module):
    """Channel gate: mean over T, H, W -> 1x1 -> SiLU -> 1x1 -> sigmoid -> scale."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.reduce = nn.Conv3d(channels, hidden, 1)
        self.expand = nn.Conv3d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale every channel of ``x`` ``(B, C, T, H, W)`` by its gate."""
        gate = x.mean(dim=(2, 3, 4), keepdim=True)
        return x * torch.sigmoid(self.expand(F.silu(self.reduce(gate))))


def _conv_bn(
    cin: int, cout: int, kernel: tuple[int, int, int], momentum: float, **kwargs: Any
) -> list[nn.Module]:
    conv = FactorisedConv3d if kwargs.get("groups", 1) == cin == cout > 1 else nn.Conv3d
    return [
        conv(cin, cout, kernel, bias=False, **kwargs),
        nn.BatchNorm3d(cout, momentum=momentum),
    ]


class InvertedResidual3d(nn.Module):
    """Positional encoding, then a depthwise-separable 3D inverted residual (module docstring).

    Parameters
    ----------
    cin, cout
        Input and output channels.
    expansion
        Expanded channels = ``cin * expansion``.
    stride
        Spatial stride of the depthwise spatial convolution.
    config
        Kernels, squeeze-excitation reduction, frame stride (dilation) and momentum.
    drop_rate
        This block's stochastic-depth rate.
    """

    def __init__(
        self,
        cin: int,
        cout: int,
        expansion: int,
        stride: int,
        config: DwiseCoreConfig,
        drop_rate: float,
    ) -> None:
        super().__init__()
        mid = cin * expansion
        k, kt, dilation, m = (
            config.spatial_kernel,
            config.temporal_kernel,
            config.frame_stride,
            config.momentum,
        )
        self.time_scale = float(config.frame_stride)
        self.expand = nn.Sequential(*_conv_bn(cin, mid, (1, 1, 1), m), nn.SiLU())
        self.spatial = nn.Sequential(
            *_conv_bn(
                mid, mid, (1, k, k), m, stride=(1, stride, stride), padding=(0, k // 2, k // 2),
                groups=mid,
            ),
            nn.SiLU(),
        )  # fmt: skip
        self.temporal = nn.Sequential(
            *_conv_bn(
                mid, mid, (kt, 1, 1), m, padding=(dilation * (kt // 2), 0, 0),
                dilation=(dilation, 1, 1), groups=mid,
            ),
            nn.SiLU(),
        )  # fmt: skip
        self.se = SqueezeExcitation3d(mid, max(1, mid // config.se_reduction))
        self.project = nn.Sequential(*_conv_bn(mid, cout, (1, 1, 1), m))
        self.stride = stride
        self.cout = cout
        self.drop_rate = drop_rate
        reshaped = stride != 1 or cin != cout
        self.shortcut_norm: nn.Module = (
            nn.BatchNorm3d(cout, momentum=m) if reshaped else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, cin, T, H, W)`` -> ``(B, cout, T, ceil(H / stride), ceil(W / stride))``."""
        _, c, t, h, w = x.shape
        x = x + positional_encoding(c, t, h, w, self.time_scale, x)
        y = self.project(self.se(self.temporal(self.spatial(self.expand(x)))))
        y = drop_path(y, self.drop_rate, self.training)
        short = x
        if y.shape[3:] != x.shape[3:]:
            short = F.interpolate(x, size=(t, *y.shape[3:]), mode="nearest")
        return y + self.shortcut_norm(tile_channels(short, self.cout))


class CortexLayer(nn.Module):
    """Per-frame grouped 1x1 Conv1d, BN, SiLU, channel shuffle, drop path, tiled shortcut."""

    def __init__(self, cin: int, cout: int, groups: int, momentum: float, drop_rate: float):
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, 1, groups=groups, bias=False)
        self.norm = nn.BatchNorm1d(cout, momentum=momentum)
        self.groups = groups
        self.cout = cout
        self.drop_rate = drop_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, cin, T)`` -> ``(B, cout, T)``."""
        y = F.silu(self.norm(self.conv(x)))
        b, c, t = y.shape
        y = y.reshape(b, self.groups, c // self.groups, t).transpose(1, 2).reshape(b, c, t)
        return drop_path(y, self.drop_rate, self.training) + tile_channels(x, self.cout)


class DwiseCore(nn.Module):
    """Stem and inverted-residual blocks: ``(B, C_in, T, H, W)`` -> ``(B, C, T, h, w)``.

    Parameters
    ----------
    config
        A :class:`DwiseCoreConfig`.
    input_channels
        Channels per frame (1, plus behaviour and pupil-centre planes).
    """

    def __init__(self, config: DwiseCoreConfig, input_channels: int) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.input_channels = input_channels
        self.stem = nn.Sequential(*_conv_bn(input_channels, config.widths[0], (1, 1, 1), 0.1))
        depth = len(config.widths)
        blocks = []
        cin = config.widths[0]
        for index, (cout, stride, expansion) in enumerate(
            zip(config.widths, config.strides, config.expansion, strict=True)
        ):
            rate = config.drop_path * index / max(depth - 1, 1)
            blocks.append(InvertedResidual3d(cin, cout, expansion, stride, config, rate))
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.out_channels = cin
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def padding(self, input_hw: tuple[int, int]) -> tuple[int, int, int, int]:
        """``(top, bottom, left, right)`` zero padding to a centred square (or none)."""
        h, w = input_hw
        if not self.config.pad_square or h == w:
            return 0, 0, 0, 0
        side = max(h, w)
        top, left = (side - h) // 2, (side - w) // 2
        return top, side - h - top, left, side - w - left

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Feature maps ``(B, out_channels, T, h, w)`` of frames ``(B, C_in, T, H, W)``."""
        if x.ndim != 5 or x.shape[1] != self.input_channels:
            raise NeurotwinError(
                f"DwiseCore takes (B, {self.input_channels}, T, H, W) frames, got shape "
                f"{tuple(x.shape)}"
            )
        top, bottom, left, right = self.padding((x.shape[3], x.shape[4]))
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        return self.blocks(self.stem(x))

    def output_hw(self, input_hw: tuple[int, int]) -> tuple[int, int]:
        """Feature size for frames of ``input_hw``: the padded size halved by every stride 2."""
        top, bottom, left, right = self.padding(input_hw)
        h, w = input_hw[0] + top + bottom, input_hw[1] + left + right
        for stride in self.config.strides:
            h, w = -(-h // stride), -(-w // stride)
        return h, w

    def output_to_input(
        self, rows: np.ndarray, cols: np.ndarray, input_hw: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Feature pixel ``(r, c)`` -> centre of its cell of the input frame, padding undone."""
        top, _, left, _ = self.padding(input_hw)
        scale = self.config.total_stride
        offset = (scale - 1) / 2
        return (
            np.asarray(rows, dtype=np.float64) * scale + offset - top,
            np.asarray(cols, dtype=np.float64) * scale + offset - left,
        )


class Cortex(nn.Module):
    """Per-frame layers of grouped 1x1 Conv1d after pooling (see :class:`CortexLayer`)."""

    def __init__(self, config: DwiseCoreConfig, in_channels: int) -> None:
        super().__init__()
        layers = []
        cin = in_channels
        for cout in config.cortex_channels:
            layers.append(
                CortexLayer(cin, cout, config.cortex_groups, config.momentum, config.drop_path)
            )
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.out_channels = cin
        for module in self.modules():
            if isinstance(module, nn.Conv1d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, T)`` -> ``(B, out_channels, T)``."""
        return self.layers(x)


# ---------------------------------------------------------------------- the twin
@register_builder(DwiseConfig)
class DwiseTwin(VideoInputTwin):
    """Depthwise-separable 3D video twin of the 2023 winner's class (module docstring).

    Parameters
    ----------
    infos
        ``{recording_key: RecordingInfo}``; ``image_hw`` is the frame size.
    config
        A :class:`DwiseConfig`.

    Raises
    ------
    NeurotwinError
        Recordings that disagree on behaviour channels, or impossible settings.
    """

    config_class: ClassVar[type] = DwiseConfig

    def __init__(self, infos: Mapping[str, RecordingInfo], config: DwiseConfig) -> None:
        super().__init__(infos)
        if not isinstance(config, DwiseConfig):
            raise NeurotwinError(f"video-dwise needs a DwiseConfig, got {type(config).__name__}")
        in_channels = self._set_inputs(config)
        self.core = DwiseCore(config.core, in_channels)
        self.readouts = nn.ModuleDict()
        self.cortex: Cortex | None = None
        self.shifters: nn.ModuleDict | None = None
        if config.readout_kind == "pooled":
            self.cortex = Cortex(config.core, self.core.out_channels)
            for key, info in self.infos.items():
                self.readouts[key] = PooledReadout(config.pooled, info, self.cortex.out_channels)
        else:
            for key, info in self.infos.items():
                readout = FullGaussianReadout(
                    config.readout,
                    info,
                    self.core.out_channels,
                    self.core.output_hw(info.image_hw),
                )
                readout.set_bias(
                    inverse_nonlinearity("elu1", info.mean_response, config.elu_offset)
                )
                self.readouts[key] = readout
            if config.shifter.enabled:
                self.shifters = nn.ModuleDict(
                    {k: Shifter(config.shifter, info.eye_dim) for k, info in self.infos.items()}
                )

    # ------------------------------------------------------------------ the model contract
    @property
    def window_frames(self) -> int:
        """Frames of the fixed window the network sees (``window * frame_stride``)."""
        return int(self.config.core.window_frames)

    @property
    def slide_step(self) -> int:
        """Step between the windows slid over a longer input (recorded frames)."""
        return int(self.config.core.step)

    # ------------------------------------------------------------------ prediction
    def features(self, batch: Mapping[str, torch.Tensor], key: str) -> torch.Tensor:
        """Core feature maps ``(B, C, T, h, w)`` of one window (at most ``window_frames``)."""
        self.check_key(key)
        return self.core(self.core_input(batch))

    def head(
        self, features: torch.Tensor, batch: Mapping[str, torch.Tensor], key: str
    ) -> torch.Tensor:
        """Rates ``(B, T, n)`` of every frame from feature maps ``(B, C, T, h, w)``."""
        self.check_key(key)
        readout = self.readouts[key]
        if self.cortex is not None:
            assert isinstance(readout, PooledReadout)
            return readout(self.cortex(features.mean(dim=(3, 4))))
        assert isinstance(readout, FullGaussianReadout)
        b, c, t = features.shape[:3]
        frames = features.transpose(1, 2).reshape(b * t, c, *features.shape[3:])
        shift = None
        if self.shifters is not None:
            eye = self._series(batch, "pupil_center", self.eye_dim, t)
            shift = self.shifters[key](eye.transpose(1, 2).reshape(b * t, -1).to(features.dtype))
        values = readout(frames, shift)
        return (F.elu(values + self.config.elu_offset) + 1.0).reshape(b, t, readout.n_neurons)

    def forward(self, batch: Mapping[str, torch.Tensor], key: str) -> torch.Tensor:
        """Predict ``(B, T, n)`` positive rates of ``key`` for inputs of any length ``T``.

        Up to :attr:`window_frames` frames run in one pass; a longer input is cut into
        windows :attr:`slide_step` frames apart (the last one ending at the last frame),
        and every frame's predictions averaged over the windows that hold it. When the
        batch holds ``length`` ``(B,)`` (the loaders' zero-padded whole trials), each
        shorter trial slides over its own frames only, so padding never reaches a true
        frame; its padded frames repeat its last frame's prediction.
        """
        self.check_key(key)
        fields = {name: self.batch_field(batch, name) for name in self.required_fields}
        t = fields["videos"].shape[2]
        rates = self._slide(fields, key)
        length = batch.get("length")
        if length is None or t <= self.window_frames:
            return rates
        for i, valid in enumerate(length.tolist()):
            valid = int(valid)
            if 0 < valid < t:
                own = {name: value[i : i + 1, :, :valid] for name, value in fields.items()}
                trial = self._slide(own, key)[0]
                rates = torch.cat(
                    [rates[:i], torch.cat([trial, trial[-1:].expand(t - valid, -1)])[None],
                     rates[i + 1 :]]
                )  # fmt: skip
        return rates

    def _slide(self, fields: dict[str, torch.Tensor], key: str) -> torch.Tensor:
        from neurotwin.models.video_inference import sliding_windows

        return sliding_windows(
            lambda piece: self.head(self.features(piece, key), piece, key),
            fields,
            self.window_frames,
            self.slide_step,
            WINDOWS_PER_PASS,
        )

    def regularizer(self, key: str) -> torch.Tensor:
        """Return the Gaussian readout's (and shifter's) penalty; zero for the pooled one."""
        self.check_key(key)
        readout = self.readouts[key]
        assert isinstance(readout, PooledReadout | FullGaussianReadout)
        total = readout.regularizer()
        if self.shifters is not None:
            shifter = self.shifters[key]
            assert isinstance(shifter, Shifter)
            total = total + shifter.regularizer()
        return total

    def receptive_field_positions(self, key: str) -> np.ndarray | None:
        """Gaussian readout centres in frame pixels ``(n, 2)``; None for the pooled readout."""
        info = self.check_key(key)
        readout = self.readouts[key]
        if not isinstance(readout, FullGaussianReadout):
            return None
        shifter = None if self.shifters is None else self.shifters[key]
        return readout_centres(info, readout, shifter, self.core)


#: Core settings of ``video-dwise-small``: the same network, small enough for tests and CPUs.
SMALL_CORE: dict[str, Any] = {
    "widths": (8, 8, 16, 16),
    "strides": (2, 1, 2, 1),
    "expansion": (3, 3, 3, 3),
    "se_reduction": 4,
    "window": 8,
    "frame_stride": 2,
    "cortex_channels": (32, 64),
    "pad_square": False,
}


@register_model("video-dwise")
def video_dwise() -> DwiseConfig:
    """Depthwise-separable 3D core, cortex and pooled readout at the 2023 winner's sizes."""
    return DwiseConfig()


@register_model("video-dwise-small")
def video_dwise_small() -> DwiseConfig:
    """video-dwise at small sizes (4 blocks of 8-16 channels, windows of 8 frames x 2)."""
    return DwiseConfig(core=dataclasses.replace(DwiseCoreConfig(), **SMALL_CORE))
