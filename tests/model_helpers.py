"""Tiny recording infos and batches shared by the model tests (and the trainer's)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from neurotwin.models import RecordingInfo

HW = (16, 24)
#: video-dwise smaller than its small preset: windows of 4 frames x stride 2 = 8 frames.
TINY_DWISE: dict[str, Any] = {
    "core": {
        "widths": (4, 8),
        "strides": (2, 1),
        "expansion": (2, 2),
        "se_reduction": 2,
        "window": 4,
        "frame_stride": 2,
        "cortex_channels": (8, 16),
    }
}


def make_info(
    key: str, n: int, *, coords: bool = True, hw: tuple[int, int] = HW, seed: int = 0
) -> RecordingInfo:
    rng = np.random.default_rng(seed)
    return RecordingInfo(
        key=key,
        n_neurons=n,
        unit_ids=np.arange(n) + 100,
        coordinates=rng.random((n, 3)) * 500 if coords else None,
        mean_response=rng.random(n) + 0.2,
        image_hw=hw,
    )


def make_batch(batch_size: int = 3, hw: tuple[int, int] = HW, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        "images": torch.randn(batch_size, 1, *hw, generator=g),
        "behavior": torch.rand(batch_size, 3, generator=g),
        "pupil_center": torch.randn(batch_size, 2, generator=g),
        "index": torch.arange(batch_size),
    }


#: Overrides that keep every model small and fast in tests.
SMALL = {"hidden_channels": 8}


def shipped_models() -> list[str]:
    """The models neurotwin itself registers, not the stand-ins other test modules register.

    Collection order decides which test modules have been imported, so parametrising over
    ``list_models()`` alone would depend on which tests run first.
    """
    from neurotwin.models import list_models
    from neurotwin.models.registry import model_entry

    return [n for n in list_models() if model_entry(n).origin.startswith("neurotwin.")]
