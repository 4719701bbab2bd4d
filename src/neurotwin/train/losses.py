"""Losses, as the 2022 starting kit computes them."""

from __future__ import annotations

import math

import torch

#: Added to the prediction inside the logarithm (the kit's ``bias``).
POISSON_EPS = 1e-12


def poisson_loss(
    prediction: torch.Tensor, target: torch.Tensor, avg: bool = False, eps: float = POISSON_EPS
) -> torch.Tensor:
    """Poisson negative log-likelihood without the terms that depend on the target only.

    Parameters
    ----------
    prediction
        Predicted rates, strictly positive, ``(B, n)``.
    target
        Observed responses, same shape.
    avg
        Mean over every element instead of the sum (the kit sums: ``avg_loss=False``).
    eps
        Added to the prediction inside the logarithm.

    Returns
    -------
    torch.Tensor
        Scalar ``sum(prediction - target * log(prediction + eps))`` (or its mean).
    """
    if prediction.shape != target.shape:
        raise ValueError(
            f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ"
        )
    loss = prediction - target.detach() * torch.log(prediction + eps)
    return loss.mean() if avg else loss.sum()


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
