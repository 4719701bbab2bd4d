"""The abstract base of video cores and what they share (:mod:`neurotwin.models.video_cores`)."""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neurotwin.errors import NeurotwinError

#: The 1-D second difference of the temporal smoothness penalty.
SECOND_DIFFERENCE = (1.0, -2.0, 1.0)


class VideoCore(nn.Module, abc.ABC):
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

    @abc.abstractmethod
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``(B, out_channels, T - temporal_context, h, w)`` of a whole input."""
        return self.stream(x)[0]

    def regularizer(self) -> torch.Tensor:
        """Return the core's scalar penalty (zero by default)."""
        param = next(self.parameters())
        return param.new_zeros(())

    @abc.abstractmethod
    def output_hw(self, input_hw: tuple[int, int]) -> tuple[int, int]:
        """Return the spatial size of the features for frames of size ``input_hw``."""

    @abc.abstractmethod
    def output_to_input(
        self, rows: np.ndarray, cols: np.ndarray, input_hw: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Map feature-grid pixel coordinates to input-frame pixel coordinates."""


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
