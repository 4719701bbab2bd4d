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

from typing import Any

from neurotwin.errors import NeurotwinError
from neurotwin.models.video_3d import Factorized3dCore, Factorized3dCoreConfig
from neurotwin.models.video_core_base import VideoCore
from neurotwin.models.video_gru import ConvGRUCell, GRUCoreConfig, GRUVideoCore

__all__ = [
    "VIDEO_CORES",
    "ConvGRUCell",
    "Factorized3dCore",
    "Factorized3dCoreConfig",
    "GRUCoreConfig",
    "GRUVideoCore",
    "VideoCore",
    "build_video_core",
]

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
