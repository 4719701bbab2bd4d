"""The similarity penalty of neural regularisation (Li et al., NeurIPS 2019).

For a batch of stimulus images the model's similarity of each compared layer is the cosine
between images of the flattened features, centred over the batch's images. The layers are
combined by a softmax over learnable weights. The penalty is the mean over image pairs
``i < j`` of ``(atanh(S_model[i, j]) - atanh(S_target[i, j]))^2``, both clipped to
``[-clip, clip]`` first so that atanh stays finite.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from neurotwin.neuroreg.errors import NeuroregError

#: Similarities are clipped to ``[-CLIP, CLIP]`` before atanh.
CLIP = 0.999


def check_penalty_weight(alpha: float, name: str = "penalty weight") -> float:
    """Return ``alpha`` as a float after checking that it is finite and >= 0.

    Raises
    ------
    NeuroregError
        For a negative, NaN or infinite weight (or a non-number).
    """
    try:
        value = float(alpha)
    except (TypeError, ValueError) as exc:
        raise NeuroregError(f"{name} must be a number >= 0, got {alpha!r}") from exc
    if not math.isfinite(value) or value < 0:
        raise NeuroregError(f"{name} must be a finite number >= 0, got {alpha!r}")
    return value


def batch_similarity(features: torch.Tensor) -> torch.Tensor:
    """Cosine similarity between the images of a batch, features centred over the batch.

    Parameters
    ----------
    features
        ``(B, ...)`` one representation per image.

    Returns
    -------
    torch.Tensor
        ``(B, B)``.
    """
    x = features.flatten(1)
    x = x - x.mean(dim=0, keepdim=True)
    x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-8)
    return x @ x.T


class SimilarityPenalty(nn.Module):
    """Similarity penalty over a few layers with learnable softmax layer weights.

    Parameters
    ----------
    n_layers
        Number of compared representations.
    clip
        Similarities are clipped to ``[-clip, clip]`` before atanh (0 < clip < 1).
    """

    def __init__(self, n_layers: int, clip: float = CLIP) -> None:
        super().__init__()
        if n_layers < 1:
            raise NeuroregError(f"the penalty needs at least one layer, got {n_layers}")
        if not 0 < clip < 1:
            raise NeuroregError(f"clip must lie strictly between 0 and 1, got {clip}")
        self.clip = clip
        self.layer_logits = nn.Parameter(torch.zeros(n_layers))

    def layer_weights(self) -> torch.Tensor:
        """Return the softmax weight of each layer, ``(n_layers,)`` summing to 1."""
        return torch.softmax(self.layer_logits, dim=0)

    def model_similarity(self, representations: list[torch.Tensor]) -> torch.Tensor:
        """Return the weighted mean of the layers' batch similarities, ``(B, B)``."""
        if len(representations) != len(self.layer_logits):
            raise NeuroregError(
                f"{len(representations)} representations for a penalty over "
                f"{len(self.layer_logits)} layers"
            )
        sims = torch.stack([batch_similarity(r) for r in representations])
        return (self.layer_weights()[:, None, None] * sims).sum(dim=0)

    def forward(self, representations: list[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        """Return the penalty (a scalar) of a batch against its target block.

        Parameters
        ----------
        representations
            One ``(B, ...)`` tensor per layer, for the same ``B`` stimulus images.
        target
            ``(B, B)`` target similarities of those images.

        Returns
        -------
        torch.Tensor
            Mean over pairs ``i < j`` of the squared difference of the atanh-transformed,
            clipped similarities.
        """
        model = self.model_similarity(representations)
        if target.shape != model.shape:
            raise NeuroregError(
                f"target block {tuple(target.shape)} does not match the batch {tuple(model.shape)}"
            )
        b = model.shape[0]
        i, j = torch.triu_indices(b, b, offset=1, device=model.device)
        c = self.clip
        diff = torch.atanh(model[i, j].clamp(-c, c)) - torch.atanh(
            target[i, j].to(model.dtype).clamp(-c, c)
        )
        return (diff**2).mean()
