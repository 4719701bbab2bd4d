"""Losses, as the 2022 starting kit computes them (with padding masks for video windows)."""

from __future__ import annotations

import math

import torch

#: Added to the prediction inside the logarithm (the kit's ``bias``).
POISSON_EPS = 1e-12


def poisson_loss(
    prediction: torch.Tensor,
    target: torch.Tensor,
    avg: bool = False,
    eps: float = POISSON_EPS,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Poisson negative log-likelihood without the terms that depend on the target only.

    Parameters
    ----------
    prediction
        Predicted rates, strictly positive: ``(B, n)`` static, ``(B, T, n)`` video.
    target
        Observed responses, same shape.
    avg
        Mean over every element instead of the sum (the kit sums: ``avg_loss=False``).
    eps
        Added to the prediction inside the logarithm.
    mask
        Video: ``(B, T)`` booleans, True for the frames that count (padding False); the
        mean then runs over the frames that count. None: every element counts.

    Returns
    -------
    torch.Tensor
        Scalar ``sum(prediction - target * log(prediction + eps))`` (or its mean).

    Raises
    ------
    ValueError
        When the shapes differ, or the mask is not the first two axes' shape.
    """
    if prediction.shape != target.shape:
        raise ValueError(
            f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ"
        )
    loss = prediction - target.detach() * torch.log(prediction + eps)
    if mask is None:
        return loss.mean() if avg else loss.sum()
    if mask.shape != prediction.shape[:2]:
        raise ValueError(
            f"mask {tuple(mask.shape)} does not match prediction {tuple(prediction.shape)}"
        )
    weights = mask.to(loss.dtype).reshape(mask.shape + (1,) * (loss.dim() - 2))
    total = (loss * weights).sum()
    if not avg:
        return total
    count = weights.sum() * (loss[0, 0].numel() if loss.dim() > 2 else 1)
    return total / count.clamp(min=1)


def loss_scale(n_train: int, batch_size: int) -> float:
    """Return the kit's loss scale, ``sqrt(n_train / batch_size)``.

    Summed over a batch, the Poisson loss grows with the batch size; this scale makes one
    epoch's total weight of the data term independent of it relative to the regulariser.

    Parameters
    ----------
    n_train
        Training trials of the batch's recording.
    batch_size
        Trials in this batch (the last batch of an epoch may be smaller).

    Returns
    -------
    float
        The factor.
    """
    return math.sqrt(n_train / batch_size)
