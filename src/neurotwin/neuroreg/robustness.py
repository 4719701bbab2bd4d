"""Robustness of a classifier: accuracy under pixel noise and minimal adversarial perturbations.

Noise (pixels in [0, 1], clipped back to [0, 1] after the noise):

- ``gaussian``: add normal noise of standard deviation ``s``;
- ``uniform``: add noise uniform on ``[-s, s]``;
- ``salt_pepper``: set a fraction ``s`` of the pixels to 0 or 1 (equally likely).

Adversarial robustness is the minimal perturbation, in L2 or Linf, at which projected
gradient descent (PGD; Madry et al. 2018) changes the prediction: for each image a bisection
over the budget ``eps`` runs PGD at each candidate budget (``steps`` steps of size
``2.5 eps / steps`` on the cross-entropy, the sign of the gradient for Linf and its unit
L2 direction for L2, each followed by a projection on the ``eps``-ball and on [0, 1]; an
attack succeeds when any step misclassifies) and keeps the smallest successful budget.
The reported distance is that budget, resolved to ``eps_max / 2^bisections``; an image
PGD cannot fool within ``eps_max`` gets ``inf``; a misclassified clean image gets 0.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neurotwin.neuroreg.errors import NeuroregError
from neurotwin.neuroreg.target import check_stimuli
from neurotwin.neuroreg.train import as_tensor, check_labels

NOISE_KINDS = ("gaussian", "uniform", "salt_pepper")
#: Default noise strengths (pixel units of [0, 1], or a fraction of pixels).
NOISE_LEVELS = (0.0, 0.02, 0.04, 0.08, 0.12, 0.2)
#: Largest budget the bisection tries, per norm (pixels in [0, 1]; L2 over the whole image).
EPS_MAX = {"linf": 0.25, "l2": 10.0}
EVAL_CHUNK = 512


def add_noise(
    images: torch.Tensor, kind: str, strength: float, generator: torch.Generator
) -> torch.Tensor:
    """Return noisy copies of ``(B, 1, H, W)`` images in [0, 1] (see the module docstring).

    Raises
    ------
    NeuroregError
        For an unknown kind or a strength outside [0, 1].
    """
    if kind not in NOISE_KINDS:
        raise NeuroregError(f"unknown noise {kind!r}; kinds: {', '.join(NOISE_KINDS)}")
    if not 0 <= strength <= 1:
        raise NeuroregError(f"noise strength must lie in [0, 1], got {strength}")
    if kind == "gaussian":
        noisy = images + strength * torch.randn(images.shape, generator=generator)
    elif kind == "uniform":
        noisy = images + strength * (2 * torch.rand(images.shape, generator=generator) - 1)
    else:
        hit = torch.rand(images.shape, generator=generator) < strength
        salt = (torch.rand(images.shape, generator=generator) < 0.5).to(images.dtype)
        noisy = torch.where(hit, salt, images)
    return noisy.clamp(0, 1)


def predict_labels(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Predicted classes ``(B,)`` of ``(B, 1, H, W)`` images, in eval mode, no gradients."""
    model.eval()
    with torch.no_grad():
        return torch.cat(
            [model(images[i : i + EVAL_CHUNK]).argmax(1) for i in range(0, len(images), EVAL_CHUNK)]
        )


def noise_curves(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    levels: tuple[float, ...] = NOISE_LEVELS,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Accuracy at each noise strength, for every kind of noise.

    Parameters
    ----------
    model
        A classifier of ``(B, 1, H, W)`` images in [0, 1].
    images
        ``(N, H, W)`` uint8 test images.
    labels
        ``(N,)`` their classes.
    levels
        Noise strengths.
    seed
        Seeds the noise.

    Returns
    -------
    dict
        ``{kind: [accuracy at each level]}`` for every kind in :data:`NOISE_KINDS`.
    """
    check_stimuli(images, "test images")
    y = torch.from_numpy(check_labels(labels, len(images)))
    x = as_tensor(images)
    out: dict[str, list[float]] = {}
    for kind in NOISE_KINDS:
        generator = torch.Generator().manual_seed(seed)
        out[kind] = [
            float((predict_labels(model, add_noise(x, kind, s, generator)) == y).float().mean())
            for s in levels
        ]
    return out


def _project(delta: torch.Tensor, eps: torch.Tensor, norm: str) -> torch.Tensor:
    e = eps.view(-1, 1, 1, 1)
    if norm == "linf":
        return torch.maximum(torch.minimum(delta, e), -e)
    size = delta.flatten(1).norm(dim=1).view(-1, 1, 1, 1).clamp_min(1e-12)
    return delta * torch.clamp(e / size, max=1.0)


def pgd_succeeds(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    eps: torch.Tensor,
    norm: str,
    steps: int = 10,
) -> torch.Tensor:
    """Whether PGD within budget ``eps`` (one per image) changes each prediction.

    Parameters
    ----------
    model
        The classifier (put in eval mode).
    images
        ``(B, 1, H, W)`` in [0, 1].
    labels
        ``(B,)`` true classes.
    eps
        ``(B,)`` budgets.
    norm
        ``"linf"`` or ``"l2"``.
    steps
        PGD steps.

    Returns
    -------
    torch.Tensor
        ``(B,)`` bool: some step's perturbed image was misclassified.
    """
    if norm not in EPS_MAX:
        raise NeuroregError(f"norm must be one of {', '.join(EPS_MAX)}, got {norm!r}")
    model.eval()
    step = (2.5 * eps / steps).view(-1, 1, 1, 1)
    delta = torch.zeros_like(images)
    fooled = torch.zeros(len(images), dtype=torch.bool)
    for _ in range(steps):
        delta.requires_grad_(True)
        logits = model(images + delta)
        fooled |= (logits.argmax(1) != labels).detach()
        loss = F.cross_entropy(logits, labels, reduction="sum")
        (grad,) = torch.autograd.grad(loss, delta)
        with torch.no_grad():
            if norm == "linf":
                direction = grad.sign()
            else:
                direction = grad / grad.flatten(1).norm(dim=1).view(-1, 1, 1, 1).clamp_min(1e-12)
            delta = _project(delta + step * direction, eps, norm)
            delta = (images + delta).clamp(0, 1) - images
    with torch.no_grad():
        fooled |= model(images + delta).argmax(1) != labels
    return fooled


def minimal_perturbations(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    norm: str,
    *,
    steps: int = 10,
    bisections: int = 8,
    eps_max: float | None = None,
) -> np.ndarray:
    """Minimal adversarial perturbation of each image by PGD with a bisection over the budget.

    Parameters
    ----------
    model
        The classifier.
    images
        ``(N, H, W)`` uint8.
    labels
        ``(N,)`` classes.
    norm
        ``"linf"`` or ``"l2"`` (pixels in [0, 1]).
    steps
        PGD steps per budget.
    bisections
        Halvings of the budget interval.
    eps_max
        Largest budget; None uses :data:`EPS_MAX`.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` smallest successful budget; 0 for a misclassified image, inf where PGD
        fails at ``eps_max``.
    """
    if norm not in EPS_MAX:
        raise NeuroregError(f"norm must be one of {', '.join(EPS_MAX)}, got {norm!r}")
    check_stimuli(images, "test images")
    x = as_tensor(images)
    y = torch.from_numpy(check_labels(labels, len(images)))
    top = EPS_MAX[norm] if eps_max is None else eps_max
    correct = predict_labels(model, x) == y
    out = np.zeros(len(images))
    if not correct.any():
        return out
    xc, yc = x[correct], y[correct]
    hi = torch.full((len(xc),), top)
    lo = torch.zeros(len(xc))
    reachable = pgd_succeeds(model, xc, yc, hi, norm, steps)
    for _ in range(bisections):
        mid = (lo + hi) / 2
        ok = pgd_succeeds(model, xc, yc, mid, norm, steps)
        hi = torch.where(ok, mid, hi)
        lo = torch.where(ok, lo, mid)
    found = torch.where(reachable, hi, torch.full_like(hi, float("inf")))
    out[correct.numpy()] = found.numpy()
    return out
