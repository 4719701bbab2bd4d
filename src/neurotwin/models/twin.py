"""The composed model: core -> readout (+ shifter, + modulator) -> output nonlinearity.

One core is shared by all recordings; each recording key has its own readout (and
shifter and modulator when enabled)::

    images (B, 1, H, W) [+ behaviour x behavior_channel_scale as 3 constant channels]
      -> core -> features (B, C, h, w)
      -> readout[key] (positions shifted by shifter[key](pupil_center))  -> (B, n)
      -> ELU + 1 (or softplus)  [* modulator[key](behavior)]            -> rate (B, n)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neurotwin.errors import NeurotwinError
from neurotwin.models.base import TwinModule, batch_field
from neurotwin.models.contract import StimulusKind
from neurotwin.models.cores import Core, StackedCoreConfig
from neurotwin.models.info import RecordingInfo
from neurotwin.models.modulator import GainModulator, ModulatorConfig
from neurotwin.models.readouts import (
    GaussianReadoutConfig,
    Readout,
    inverse_nonlinearity,
    readout_centres,
)
from neurotwin.models.registry import get_core, get_readout, register_builder
from neurotwin.models.shifter import Shifter, ShifterConfig

#: Output nonlinearities: ``elu1`` is ELU(x + elu_offset) + 1 (kit), ``softplus``.
NONLINEARITIES = ("elu1", "softplus")


@dataclass(frozen=True)
class TwinConfig:
    """Configuration of a :class:`Twin`: which parts, and each part's settings.

    Attributes
    ----------
    core_type
        Registered core name (:func:`~neurotwin.models.list_cores`).
    core
        The core's config (its class's ``config_class``).
    readout_type
        Registered readout name (:func:`~neurotwin.models.list_readouts`).
    readout
        The readout's config.
    behavior_channels
        Feed behaviour to the core as constant extra image channels (kit's sensorium+).
    behavior_channel_scale
        Factor on those channels (kit: 1). A constant plane through the unpadded first
        convolution adds the sum of a filter's taps times the behaviour value, so Adam,
        which moves every tap by about the learning rate, changes the behaviour term
        ``input_kern**2`` times faster than a one-pixel image term. ``1 / input_kern**2``
        turns that sum into a mean: the same set of functions, reached in fewer epochs (see
        the named baselines). A saved config without this field predates it and means 1.
    shifter
        Eye-position shifter of the readout positions.
    modulator
        Behaviour as a per-neuron gain on the rate.
    nonlinearity
        ``"elu1"`` (kit) or ``"softplus"``.
    elu_offset
        ``x`` offset of ``elu1`` (kit: 0).
    """

    core_type: str = "stacked2d"
    core: Any = field(
        default_factory=StackedCoreConfig,
        metadata={"registry": "core", "kind_field": "core_type"},
    )
    readout_type: str = "gaussian"
    readout: Any = field(
        default_factory=GaussianReadoutConfig,
        metadata={"registry": "readout", "kind_field": "readout_type"},
    )
    behavior_channels: bool = False
    behavior_channel_scale: float = 1.0
    shifter: ShifterConfig = field(default_factory=ShifterConfig)
    modulator: ModulatorConfig = field(default_factory=ModulatorConfig)
    nonlinearity: str = "elu1"
    elu_offset: float = 0.0

    def validate(self) -> None:
        """Raise :class:`~neurotwin.errors.NeurotwinError` on inconsistent settings."""
        if self.nonlinearity not in NONLINEARITIES:
            raise NeurotwinError(
                f"nonlinearity must be one of {', '.join(NONLINEARITIES)}, "
                f"got {self.nonlinearity!r}"
            )
        if not np.isfinite(self.behavior_channel_scale) or self.behavior_channel_scale <= 0:
            raise NeurotwinError(
                "behavior_channel_scale must be a positive number, "
                f"got {self.behavior_channel_scale!r}"
            )
        for kind, name, section in (
            ("core", self.core_type, self.core),
            ("readout", self.readout_type, self.readout),
        ):
            cls = get_core(name) if kind == "core" else get_readout(name)
            if not isinstance(section, cls.config_class):  # type: ignore[attr-defined]
                raise NeurotwinError(
                    f"{kind} {name!r} needs a {cls.config_class.__name__}, "  # type: ignore[attr-defined]
                    f"got a {type(section).__name__}"
                )
        if self.shifter.enabled and not get_readout(self.readout_type).supports_shift:  # type: ignore[attr-defined]
            raise NeurotwinError(
                f"readout {self.readout_type!r} cannot apply an eye-position shift; "
                "disable the shifter or use the 'gaussian' readout"
            )
        for part in (self.core, self.readout, self.shifter, self.modulator):
            check = getattr(part, "validate", None)
            if callable(check):
                check()


@register_builder(TwinConfig)
class Twin(TwinModule):
    """A core shared across recordings with per-recording readouts (see module docstring).

    Parameters
    ----------
    infos
        ``{recording_key: RecordingInfo}``.
    config
        A :class:`TwinConfig`.
    """

    def __init__(self, infos: Mapping[str, RecordingInfo], config: TwinConfig) -> None:
        super().__init__(infos)
        config.validate()
        self.config = config
        for key in self.infos:
            if "." in key or not key:
                raise NeurotwinError(f"recording key {key!r} cannot name a readout")
        first = next(iter(self.infos.values()))
        if config.behavior_channels or config.modulator.enabled:
            dims = {info.behavior_dim for info in self.infos.values()}
            if len(dims) > 1:
                raise NeurotwinError(f"recordings disagree on behaviour channels: {sorted(dims)}")
        self.behavior_dim = first.behavior_dim
        in_channels = 1 + (self.behavior_dim if config.behavior_channels else 0)
        core = get_core(config.core_type)(config.core, in_channels)
        assert isinstance(core, Core)
        self.core = core
        readout_cls = get_readout(config.readout_type)
        self.readouts = nn.ModuleDict()
        for key, info in self.infos.items():
            readout = readout_cls(
                config.readout, info, core.out_channels, core.output_hw(info.image_hw)
            )
            readout.set_bias(
                inverse_nonlinearity(config.nonlinearity, info.mean_response, config.elu_offset)
            )
            self.readouts[key] = readout
        self.shifters = (
            nn.ModuleDict(
                {k: Shifter(config.shifter, info.eye_dim) for k, info in self.infos.items()}
            )
            if config.shifter.enabled
            else None
        )
        self.modulators = (
            nn.ModuleDict(
                {
                    k: GainModulator(config.modulator, info.behavior_dim, info.n_neurons)
                    for k, info in self.infos.items()
                }
            )
            if config.modulator.enabled
            else None
        )

    #: Composed twins take static images.
    stimulus_kind: StimulusKind = "static"

    @property
    def required_fields(self) -> tuple[str, ...]:
        """``images``, ``behavior`` (behaviour channels, modulator), ``pupil_center`` (shifter)."""
        fields = ["images"]
        if self.config.behavior_channels or self.config.modulator.enabled:
            fields.append("behavior")
        if self.config.shifter.enabled:
            fields.append("pupil_center")
        return tuple(fields)

    def readout(self, key: str) -> Readout:
        """Return the readout of recording ``key``."""
        self.check_key(key)
        readout = self.readouts[key]
        assert isinstance(readout, Readout)
        return readout

    def core_input(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Return the core's input: images, plus behaviour channels when configured."""
        images = batch_field(batch, "images", self.name)
        if images.ndim != 4 or images.shape[1] != 1:
            raise NeurotwinError(
                f"batch 'images' has shape {tuple(images.shape)}, expected (B, 1, H, W)"
            )
        if not self.config.behavior_channels:
            return images
        behavior = batch_field(batch, "behavior", self.name)
        b, _, h, w = images.shape
        behavior = behavior.to(images.dtype) * self.config.behavior_channel_scale
        planes = behavior[:, :, None, None].expand(b, -1, h, w)
        x = torch.cat([images, planes], dim=1)
        if self._channels_last():
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _channels_last(self) -> bool:
        for p in self.core.parameters():
            if p.ndim == 4 and p.shape[1] > 1:
                return p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
        return False

    def output_nonlinearity(self, x: torch.Tensor) -> torch.Tensor:
        """Map readout values to strictly positive rates."""
        if self.config.nonlinearity == "softplus":
            return F.softplus(x)
        return F.elu(x + self.config.elu_offset) + 1.0

    def features(self, batch: Mapping[str, torch.Tensor], key: str) -> torch.Tensor:
        """Return the core's ``(B, C, h, w)`` feature maps of the batch's images (+ behaviour)."""
        self.check_key(key)
        features: torch.Tensor = self.core(self.core_input(batch))
        return features

    def head(
        self, features: torch.Tensor, batch: Mapping[str, torch.Tensor], key: str
    ) -> torch.Tensor:
        """Readout (shifted by the pupil centre), nonlinearity and gain: ``(B, n_neurons)``."""
        readout = self.readout(key)
        shift = None
        if self.shifters is not None:
            eye = batch_field(batch, "pupil_center", self.name)
            shift = self.shifters[key](eye.to(features.dtype))
        rate = self.output_nonlinearity(readout(features, shift))
        if self.modulators is not None:
            behavior = batch_field(batch, "behavior", self.name)
            rate = self.modulators[key](rate, behavior.to(rate.dtype))
        return rate

    def regularizer(self, key: str) -> torch.Tensor:
        """Core penalty + readout penalty (+ shifter and modulator penalties) of ``key``."""
        total = self.core.regularizer() + self.readout(key).regularizer()
        if self.shifters is not None:
            shifter = self.shifters[key]
            assert isinstance(shifter, Shifter)
            total = total + shifter.regularizer()
        if self.modulators is not None:
            modulator = self.modulators[key]
            assert isinstance(modulator, GainModulator)
            total = total + modulator.regularizer()
        return total

    def receptive_field_positions(self, key: str) -> np.ndarray:
        """Readout centres of ``key``'s neurons in input-image pixels, ``(n, 2)`` (row, col).

        Mean positions (no sampling) at eye position zero (the mean pupil centre of the
        normalised data): with a shifter, its output for a zero pupil centre is included.
        The unpadded first convolution's crop is undone by the core's
        :meth:`~neurotwin.models.cores.Core.output_to_input`.
        """
        shifter = None if self.shifters is None else self.shifters[key]
        return readout_centres(self.check_key(key), self.readout(key), shifter, self.core)


def twin_config(**changes: Any) -> TwinConfig:
    """Return a :class:`TwinConfig` with ``changes`` (a convenience for baselines)."""
    return dataclasses.replace(TwinConfig(), **changes)
