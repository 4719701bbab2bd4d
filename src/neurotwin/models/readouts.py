"""Readouts: from the core's feature maps to one value per neuron (before the nonlinearity).

- :class:`FullGaussianReadout` (``"gaussian"``): the 2022 kit's ``FullGaussian2d``. Each
  neuron reads the features at one position of the core's grid, in grid_sample coordinates
  ``(x, y)`` in ``[-1, 1]`` (x along the width). In training the position is drawn per
  image from a Gaussian, ``mu + sigma @ z`` with ``z ~ N(0, I)`` and a full 2x2
  ``sigma`` per neuron; in eval mode the mean ``mu`` is used. Positions are clamped to
  ``[-1, 1]``, then the shifter's offset (eye position) is added. Features are read
  bilinearly as by :func:`torch.nn.functional.grid_sample` (``align_corners=True``, zero
  padding), all neurons at once, and weighted by per-neuron feature vectors (L1 penalty
  ``gamma_readout``); on the CPU one fused kernel does both
  (:mod:`neurotwin.models.readout_kernel`).
  The means ``mu`` come from the neurons' cortical coordinates through a small shared
  network (first two coordinates, centred and divided by their largest absolute value;
  Linear-ELU-Linear-tanh), or are free parameters when the recording has no coordinates
  or ``grid_mean_predictor=False``.
- :class:`FactorizedReadout` (``"factorized"``): a spatial mask (``h * w`` per neuron,
  unit L2 norm) times a feature vector; penalty ``gamma_readout`` times the sum over
  neurons of ``|mask|_1 * |features|_1``.
"""

from __future__ import annotations

import abc
import itertools
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from neurotwin.errors import NeurotwinError
from neurotwin.models.info import RecordingInfo
from neurotwin.models.readout_kernel import sample_and_weight
from neurotwin.models.registry import register_readout


class Readout(nn.Module, abc.ABC):
    """Abstract base class of readouts of one recording.

    Subclasses set ``config_class``, are built as ``cls(config, info, in_channels, in_hw)``
    (``in_hw`` is the core's output size) and implement :meth:`forward`,
    :meth:`regularizer` and :meth:`positions`. A readout that can move its positions by an
    eye-position shift sets ``supports_shift = True``.
    """

    config_class: ClassVar[type]
    supports_shift: ClassVar[bool] = False
    bias: nn.Parameter | None

    @abc.abstractmethod
    def forward(self, x: torch.Tensor, shift: torch.Tensor | None = None) -> torch.Tensor:
        """Return ``(B, n_neurons)`` from features ``x`` ``(B, C, h, w)``."""

    @abc.abstractmethod
    def regularizer(self) -> torch.Tensor:
        """Return the readout's scalar penalty."""

    @abc.abstractmethod
    def positions(self, shift: torch.Tensor | None = None) -> torch.Tensor:
        """Return ``(n, 2)`` (row, col) centres on the core's output grid, in pixels."""

    def set_bias(self, values: np.ndarray) -> None:
        """Set the per-neuron bias (no-op without one)."""
        if self.bias is not None:
            with torch.no_grad():
                self.bias.copy_(torch.as_tensor(values, dtype=self.bias.dtype))


@dataclass(frozen=True)
class GaussianReadoutConfig:
    """Configuration of :class:`FullGaussianReadout` (defaults: the 2022 kit).

    Attributes
    ----------
    gamma_readout
        Weight of the L1 penalty on the features (kit: 0.0076).
    init_mu_range
        Free means start uniform in ``[-init_mu_range, init_mu_range]`` (kit: 0.3).
    init_sigma
        ``sigma`` entries start uniform in ``[-init_sigma, init_sigma]`` (kit: 0.1).
    bias
        A per-neuron bias (kit: True).
    grid_mean_predictor
        Predict the means from cortical coordinates (kit: True); free means otherwise and
        whenever a recording has no (or constant) coordinates.
    predictor_input_dims
        Cortical coordinates used (kit: the first 2).
    predictor_hidden_layers, predictor_hidden_features
        Hidden layers and units of the predictor (kit: 1 of 30, ELU).
    predictor_final_tanh
        End the predictor with tanh (kit: True).
    batch_sample
        Draw a position per image (kit: True) rather than one per batch.
    align_corners
        Passed to grid_sample (kit: True).
    """

    gamma_readout: float = 0.0076
    init_mu_range: float = 0.3
    init_sigma: float = 0.1
    bias: bool = True
    grid_mean_predictor: bool = True
    predictor_input_dims: int = 2
    predictor_hidden_layers: int = 1
    predictor_hidden_features: int = 30
    predictor_final_tanh: bool = True
    batch_sample: bool = True
    align_corners: bool = True

    def validate(self) -> None:
        """Raise :class:`~neurotwin.errors.NeurotwinError` on impossible values."""
        if not 0.0 < self.init_mu_range <= 1.0:
            raise NeurotwinError(
                f"readout.init_mu_range must lie in (0, 1], got {self.init_mu_range}"
            )
        if self.init_sigma <= 0:
            raise NeurotwinError(f"readout.init_sigma must be positive, got {self.init_sigma}")
        if self.gamma_readout < 0:
            raise NeurotwinError("readout.gamma_readout must be >= 0")
        if self.predictor_input_dims < 1 or self.predictor_hidden_layers < 0:
            raise NeurotwinError("readout predictor sizes must be positive")
        if self.predictor_hidden_features < 1:
            raise NeurotwinError("readout.predictor_hidden_features must be positive")


def source_grid(coordinates: np.ndarray | None, dims: int) -> np.ndarray | None:
    """Centre the first ``dims`` cortical coordinates and scale them into ``[-1, 1]``.

    Returns None when there are no coordinates or they are all equal.
    """
    if coordinates is None or coordinates.shape[1] < dims:
        return None
    grid = np.asarray(coordinates[:, :dims], dtype=np.float64)
    grid = grid - grid.mean(axis=0, keepdims=True)
    largest = float(np.abs(grid).max()) if grid.size else 0.0
    if not np.isfinite(largest) or largest == 0.0:
        return None
    return (grid / largest).astype(np.float32)


def _predictor(config: GaussianReadoutConfig) -> nn.Sequential:
    hidden = config.predictor_hidden_features
    sizes = [config.predictor_input_dims] + [hidden] * config.predictor_hidden_layers + [2]
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        if i > 0:
            layers.append(nn.ELU())
        layers.append(nn.Linear(n_in, n_out))
    if config.predictor_final_tanh:
        layers.append(nn.Tanh())
    return nn.Sequential(*layers)


def grid_to_pixels(
    xy: torch.Tensor, hw: tuple[int, int], align_corners: bool = True
) -> torch.Tensor:
    """Convert grid_sample ``(x, y)`` coordinates to ``(row, col)`` pixels of an ``hw`` grid."""
    h, w = hw
    x, y = xy[..., 0], xy[..., 1]
    if align_corners:
        col, row = (x + 1) / 2 * (w - 1), (y + 1) / 2 * (h - 1)
    else:
        col, row = ((x + 1) * w - 1) / 2, ((y + 1) * h - 1) / 2
    return torch.stack([row, col], dim=-1)


@register_readout("gaussian")
class FullGaussianReadout(Readout):
    """The kit's full-covariance Gaussian readout (see the module docstring).

    Parameters
    ----------
    config
        A :class:`GaussianReadoutConfig`.
    info
        The recording (neuron count, cortical coordinates).
    in_channels
        Core output channels.
    in_hw
        Core output size.

    Attributes
    ----------
    features
        ``(in_channels, n)`` feature weights.
    sigma
        ``(n, 2, 2)`` square roots of the position covariances.
    mu
        ``(n, 2)`` free means (only without the predictor).
    source_grid
        ``(n, dims)`` normalised cortical coordinates (buffer; only with the predictor).
    position_net
        The mean predictor (only with it).
    """

    config_class = GaussianReadoutConfig
    supports_shift = True
    source_grid: torch.Tensor
    mu: nn.Parameter | None

    def __init__(
        self,
        config: GaussianReadoutConfig,
        info: RecordingInfo,
        in_channels: int,
        in_hw: tuple[int, int],
    ) -> None:
        super().__init__()
        self.config = config
        self.n_neurons = n = info.n_neurons
        self.in_channels = in_channels
        self.in_hw = in_hw
        self.features = nn.Parameter(torch.full((in_channels, n), 1.0 / in_channels))
        self.sigma = nn.Parameter(
            torch.empty(n, 2, 2).uniform_(-config.init_sigma, config.init_sigma)
        )
        self.bias = nn.Parameter(torch.zeros(n)) if config.bias else None
        grid = (
            source_grid(info.coordinates, config.predictor_input_dims)
            if config.grid_mean_predictor
            else None
        )
        self.uses_predictor = grid is not None
        if grid is not None:
            self.register_buffer("source_grid", torch.from_numpy(grid))
            self.position_net = _predictor(config)
            self.mu = None
        else:
            r = config.init_mu_range
            self.mu = nn.Parameter(torch.empty(n, 2).uniform_(-r, r))

    def mean_positions(self) -> torch.Tensor:
        """``(n, 2)`` mean positions ``(x, y)``, before clamping."""
        if self.mu is not None:
            return self.mu
        return self.position_net(self.source_grid)

    def sample_positions(self, batch_size: int) -> torch.Tensor:
        """``(B, n, 2)`` positions: sampled in training, the means in eval mode; clamped."""
        if self.mu is not None and self.training:
            with torch.no_grad():  # keep free means inside the grid, where gradients flow
                self.mu.clamp_(-1.0, 1.0)
        mu = self.mean_positions()
        if self.training:
            draws = batch_size if self.config.batch_sample else 1
            z = torch.randn(draws, self.n_neurons, 2, device=mu.device, dtype=mu.dtype)
            grid = mu + torch.einsum("nij,bnj->bni", self.sigma, z)
            grid = grid.expand(batch_size, -1, -1)
        else:
            grid = mu.unsqueeze(0).expand(batch_size, -1, -1)
        return grid.clamp(-1.0, 1.0)

    def forward(self, x: torch.Tensor, shift: torch.Tensor | None = None) -> torch.Tensor:
        """Read every neuron's features at its (sampled) position; ``(B, n)``."""
        batch = x.shape[0]
        grid = self.sample_positions(batch)
        if shift is not None:
            grid = grid + shift[:, None, :]
        out = sample_and_weight(x, grid, self.features, self.config.align_corners)
        if self.bias is not None:
            out = out + self.bias
        return out

    def regularizer(self) -> torch.Tensor:
        """``gamma_readout * sum(|features|)``."""
        return self.config.gamma_readout * self.features.abs().sum()

    def positions(self, shift: torch.Tensor | None = None) -> torch.Tensor:
        """Mean positions (plus ``shift``, ``(2,)`` or ``(1, 2)``) as output-grid pixels."""
        grid = self.mean_positions().clamp(-1.0, 1.0)
        if shift is not None:
            grid = grid + shift.reshape(1, 2)
        return grid_to_pixels(grid, self.in_hw, self.config.align_corners)


@dataclass(frozen=True)
class FactorizedReadoutConfig:
    """Configuration of :class:`FactorizedReadout`.

    The kit published no hyper-parameters for this readout; the defaults follow
    neuralpredictors' ``FullFactorized2d`` (normalised mask, N(0, 1e-3) initialisation)
    with the Gaussian readout's penalty weight, untuned.

    Attributes
    ----------
    gamma_readout
        Weight of the penalty ``sum_n |mask_n|_1 * |features_n|_1``.
    normalize
        Divide each neuron's mask by its L2 norm.
    positive_spatial
        Use the absolute value of the mask (a non-negative spatial weighting).
    init_noise
        Standard deviation of the initial mask and feature weights.
    bias
        A per-neuron bias.
    """

    gamma_readout: float = 0.0076
    normalize: bool = True
    positive_spatial: bool = False
    init_noise: float = 1e-3
    bias: bool = True

    def validate(self) -> None:
        """Raise :class:`~neurotwin.errors.NeurotwinError` on impossible values."""
        if self.gamma_readout < 0:
            raise NeurotwinError("readout.gamma_readout must be >= 0")
        if self.init_noise <= 0:
            raise NeurotwinError("readout.init_noise must be positive")


@register_readout("factorized")
class FactorizedReadout(Readout):
    """A spatial mask times a feature vector per neuron (see the module docstring).

    Parameters
    ----------
    config
        A :class:`FactorizedReadoutConfig`.
    info
        The recording.
    in_channels
        Core output channels.
    in_hw
        Core output size.
    """

    config_class = FactorizedReadoutConfig

    def __init__(
        self,
        config: FactorizedReadoutConfig,
        info: RecordingInfo,
        in_channels: int,
        in_hw: tuple[int, int],
    ) -> None:
        super().__init__()
        self.config = config
        self.n_neurons = n = info.n_neurons
        self.in_hw = in_hw
        h, w = in_hw
        self.spatial = nn.Parameter(torch.randn(n, h, w) * config.init_noise)
        self.features = nn.Parameter(torch.randn(in_channels, n) * config.init_noise)
        self.bias = nn.Parameter(torch.zeros(n)) if config.bias else None

    def mask(self) -> torch.Tensor:
        """``(n, h * w)`` spatial weights as applied."""
        mask = self.spatial.flatten(1)
        if self.config.positive_spatial:
            mask = mask.abs()
        if self.config.normalize:
            mask = mask / (mask.norm(dim=1, keepdim=True) + 1e-6)
        return mask

    def forward(self, x: torch.Tensor, shift: torch.Tensor | None = None) -> torch.Tensor:
        """Weight the feature maps by each neuron's mask, then its features; ``(B, n)``."""
        if shift is not None:
            raise NeurotwinError("the factorized readout cannot apply an eye-position shift")
        pooled = x.flatten(2) @ self.mask().t()  # (B, C, n)
        out = (pooled * self.features).sum(dim=1)
        if self.bias is not None:
            out = out + self.bias
        return out

    def regularizer(self) -> torch.Tensor:
        """``gamma_readout * sum_n |mask_n|_1 * |features_n|_1``."""
        per_neuron = self.mask().abs().sum(dim=1) * self.features.abs().sum(dim=0)
        return self.config.gamma_readout * per_neuron.sum()

    def positions(self, shift: torch.Tensor | None = None) -> torch.Tensor:
        """Centre of mass of each neuron's absolute mask, ``(row, col)`` pixels."""
        h, w = self.in_hw
        weight = self.mask().abs().reshape(-1, h, w)
        total = weight.sum(dim=(1, 2)).clamp_min(1e-12)
        rows = torch.arange(h, dtype=weight.dtype, device=weight.device)
        cols = torch.arange(w, dtype=weight.dtype, device=weight.device)
        row = (weight.sum(dim=2) * rows).sum(dim=1) / total
        col = (weight.sum(dim=1) * cols).sum(dim=1) / total
        return torch.stack([row, col], dim=-1)


def inverse_nonlinearity(name: str, rate: np.ndarray, offset: float = 0.0) -> np.ndarray:
    """Return the readout value at which the output nonlinearity gives ``rate``.

    Used to initialise the readout bias so that an untrained model predicts about each
    neuron's mean response. Rates are floored at 1e-3; a missing (non-finite) rate counts
    as 1.
    """
    r = np.asarray(rate, dtype=np.float64)
    r = np.maximum(np.where(np.isfinite(r), r, 1.0), 1e-3)
    if name == "elu1":
        return np.where(r >= 1.0, r - 1.0, np.log(r)) - offset
    if name == "softplus":
        return np.where(r > 20.0, r, np.log(np.expm1(np.minimum(r, 20.0))))
    raise NeurotwinError(f"unknown output nonlinearity {name!r}")


def readout_centres(info: RecordingInfo, readout: Readout, shifter: Any, core: Any) -> np.ndarray:
    """Readout centres of a recording's neurons in input pixels, ``(n, 2)`` (row, col).

    Mean positions (no sampling) at eye position zero (the mean pupil centre of the
    normalised data): with a shifter, its output for a zero pupil centre is included. The
    core's spatial crop is undone by its ``output_to_input``.

    Parameters
    ----------
    info
        The recording's info (eye channels, image size).
    readout
        The recording's readout.
    shifter
        Its shifter module, or None.
    core
        The core (static or video) whose ``output_to_input`` maps feature pixels to input
        pixels.

    Returns
    -------
    numpy.ndarray
        ``(n_neurons, 2)`` float64.
    """
    with torch.no_grad():
        shift = None
        if shifter is not None:
            param = next(shifter.parameters())
            shift = shifter(param.new_zeros(1, info.eye_dim))
        grid = readout.positions(shift).detach().cpu().double().numpy()
    rows, cols = core.output_to_input(grid[:, 0], grid[:, 1], info.image_hw)
    return np.stack([rows, cols], axis=1)
