"""CutMix for video batches of one recording (the 2023 winner's recipe).

With probability ``prob`` a batch is mixed with a permutation of itself: a box of the
frames (the same box in every frame, the whole window) is taken from the partner trial,
and the targets become ``lam * own + (1 - lam) * partner``, where ``lam`` is the share of
the frame outside the box. ``lam`` is drawn from ``Beta(alpha, alpha)``, the box's sides
are ``sqrt(1 - lam)`` of the frame's, its centre uniform, and after clipping to the frame
``lam`` is recomputed from the box's true area. Every batch the trainer sees holds one
recording (one mouse), so trials are mixed within a mouse only, and the neurons of the two
targets are the same.

Behaviour and pupil centre, which the model reads as constant planes of every frame, are
mixed by the same area ratio; a partner's padding counts as padding (the mixed trial's
``length`` is the shorter of the two). Random numbers come from torch's generator, which
the trainer seeds per epoch, so a resumed run mixes the same boxes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from neurotwin.errors import NeurotwinError

#: Series mixed by the area ratio along with the responses.
MIXED_SERIES = ("responses", "behavior", "pupil_center")


def cutmix_box(h: int, w: int, lam: float) -> tuple[int, int, int, int]:
    """Draw a box covering about ``1 - lam`` of an ``h x w`` frame.

    Parameters
    ----------
    h, w
        Frame size.
    lam
        Share of the frame to keep, in [0, 1].

    Returns
    -------
    tuple of int
        ``(top, bottom, left, right)``, clipped to the frame (may be empty).
    """
    side = math.sqrt(1.0 - lam)
    cut_h, cut_w = round(h * side), round(w * side)
    cy = int(torch.randint(h, (1,)).item())
    cx = int(torch.randint(w, (1,)).item())
    top, bottom = max(cy - cut_h // 2, 0), min(cy + cut_h - cut_h // 2, h)
    left, right = max(cx - cut_w // 2, 0), min(cx + cut_w - cut_w // 2, w)
    return top, bottom, left, right


def cutmix(
    batch: Mapping[str, torch.Tensor], *, alpha: float = 1.0, prob: float = 0.5
) -> tuple[dict[str, torch.Tensor], float]:
    """Mix a video batch of one recording with a permutation of itself (module docstring).

    Parameters
    ----------
    batch
        ``videos`` ``(B, 1, T, H, W)``, ``responses`` ``(B, T, n)``, optionally
        ``behavior`` / ``pupil_center`` ``(B, C, T)`` and ``length`` ``(B,)``; other
        fields are passed on unchanged.
    alpha
        Parameter of the Beta distribution of ``lam`` (winner: 1, i.e. uniform).
    prob
        Probability of mixing this batch (winner: 0.5).

    Returns
    -------
    batch : dict
        The mixed batch (new tensors; the input is not changed), or the batch itself.
    lam : float
        The share of each frame that stayed (1.0 when the batch was not mixed).

    Raises
    ------
    NeurotwinError
        ``alpha <= 0``, ``prob`` outside [0, 1], or a batch without ``videos`` (B, 1, T,
        H, W) and ``responses``.
    """
    if not alpha > 0:
        raise NeurotwinError(f"cutmix alpha must be positive, got {alpha}")
    if not 0.0 <= prob <= 1.0:
        raise NeurotwinError(f"cutmix probability must lie in [0, 1], got {prob}")
    videos = batch.get("videos")
    if videos is None or videos.ndim != 5 or "responses" not in batch:
        raise NeurotwinError("cutmix takes video batches: 'videos' (B, 1, T, H, W) and 'responses'")
    out = dict(batch)
    b = videos.shape[0]
    if b < 2 or float(torch.rand(())) >= prob:
        return out, 1.0
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    h, w = videos.shape[3], videos.shape[4]
    top, bottom, left, right = cutmix_box(h, w, lam)
    lam = 1.0 - (bottom - top) * (right - left) / (h * w)
    perm = torch.randperm(b, device=videos.device)
    mixed = videos.clone()
    mixed[..., top:bottom, left:right] = videos[perm][..., top:bottom, left:right]
    out["videos"] = mixed
    for name in MIXED_SERIES:
        value = batch.get(name)
        if value is not None:
            out[name] = lam * value + (1.0 - lam) * value[perm]
    mask = batch.get("mask")
    if mask is not None:
        out["mask"] = mask & mask[perm]
    length = batch.get("length")
    if length is not None:
        out["length"] = torch.minimum(length, length[perm])
    return out, lam
