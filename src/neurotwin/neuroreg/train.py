"""Train a classifier with cross-entropy, alternating with similarity-penalty batches.

Each optimisation step on a batch of labelled images (cross-entropy) is followed by one step
on a batch of stimulus images (``alpha`` times
:class:`~neurotwin.neuroreg.penalty.SimilarityPenalty` against the target's block of those
images), both through the same trunk, as in Li et al. (2019) and its follow-up code. SGD
with momentum (or Adam) and a cosine decay of the learning rate over all steps. With no
target (or ``alpha = 0``) only the classification steps run: the unregularised control.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from neurotwin.neuroreg.classifier import SmallResNet
from neurotwin.neuroreg.errors import NeuroregError
from neurotwin.neuroreg.penalty import SimilarityPenalty, check_penalty_weight
from neurotwin.neuroreg.target import check_stimuli


@dataclass(frozen=True)
class TrainSettings:
    """How a classifier is trained.

    Attributes
    ----------
    epochs
        Passes over the labelled images.
    batch_size
        Labelled images per classification step.
    pair_batch
        Stimulus images per penalty step (all pairs among them are compared).
    optimizer
        ``"sgd"`` (with momentum, as in the paper) or ``"adam"``.
    lr, momentum, weight_decay
        Optimiser settings (the learning rate decays to 0 along a cosine; momentum is
        SGD's).
    alpha
        Weight of the similarity penalty (finite, >= 0; the paper uses 20, Attias et al. 10).
    widths
        Channels of the ResNet's stages.
    strides
        Stride of each stage (2 halves the resolution).
    seed
        Seeds the initialisation and the batch order.
    """

    epochs: int = 6
    batch_size: int = 64
    pair_batch: int = 32
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    alpha: float = 10.0
    widths: tuple[int, ...] = (8, 16, 32)
    strides: tuple[int, ...] = (2, 2, 2)
    seed: int = 0

    def validate(self) -> None:
        """Raise :class:`NeuroregError` for a setting out of range."""
        check_penalty_weight(self.alpha, "penalty weight alpha")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise NeuroregError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.pair_batch, int) or self.pair_batch < 2:
            raise NeuroregError(f"pair_batch must be an integer >= 2, got {self.pair_batch!r}")
        if self.optimizer not in ("sgd", "adam"):
            raise NeuroregError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise NeuroregError(f"lr must be a finite number > 0, got {self.lr!r}")


@dataclass
class TrainedClassifier:
    """A trained classifier and how its training went.

    Attributes
    ----------
    model
        The network, in eval mode.
    layer_weights
        Final softmax weight of each compared layer (empty without a penalty).
    history
        ``cross_entropy`` and ``penalty``: the mean of each per epoch.
    """

    model: SmallResNet
    layer_weights: list[float] = field(default_factory=list)
    history: dict[str, list[float]] = field(default_factory=dict)


def as_tensor(images: np.ndarray) -> torch.Tensor:
    """``(N, H, W)`` uint8 to ``(N, 1, H, W)`` float32 in [0, 1]."""
    return torch.from_numpy(images.astype(np.float32) / 255.0)[:, None]


def check_labels(labels: np.ndarray, n: int) -> np.ndarray:
    """Check ``(n,)`` integer labels >= 0; return them as int64."""
    y = np.asarray(labels)
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer) or (y < 0).any():
        raise NeuroregError(
            f"labels must be {n} integers >= 0 (one per image), got shape {y.shape} dtype {y.dtype}"
        )
    return y.astype(np.int64)


def train_classifier(
    images: np.ndarray,
    labels: np.ndarray,
    settings: TrainSettings,
    *,
    stimuli: np.ndarray | None = None,
    target: np.ndarray | None = None,
    n_classes: int | None = None,
    log: Callable[[str], None] | None = None,
) -> TrainedClassifier:
    """Train a :class:`~neurotwin.neuroreg.classifier.SmallResNet`.

    Parameters
    ----------
    images
        ``(N, H, W)`` uint8 training images.
    labels
        ``(N,)`` class indices.
    settings
        The recipe.
    stimuli
        ``(M, H, W)`` uint8 stimulus images of the target (same size as ``images``).
    target
        ``(M, M)`` similarity target of ``stimuli``; None trains without a penalty.
    n_classes
        Number of classes; None uses ``labels.max() + 1``.
    log
        Called with one line per epoch.

    Returns
    -------
    TrainedClassifier
        The model (eval mode), layer weights and per-epoch losses.

    Raises
    ------
    NeuroregError
        For a bad setting, mismatched sizes, or a target without stimuli.
    """
    settings.validate()
    check_stimuli(images, "training images")
    y = check_labels(labels, len(images))
    classes = int(y.max()) + 1 if n_classes is None else n_classes
    if y.max() >= classes:
        raise NeuroregError(f"labels reach {int(y.max())} but there are {classes} classes")
    use_penalty = target is not None and settings.alpha > 0
    if target is not None:
        if stimuli is None:
            raise NeuroregError("a similarity target needs its stimulus images")
        check_stimuli(stimuli)
        if stimuli.shape[1:] != images.shape[1:]:
            raise NeuroregError(
                f"the stimuli are {stimuli.shape[1]}x{stimuli.shape[2]} but the classifier's "
                f"images are {images.shape[1]}x{images.shape[2]}; they must have one size"
            )
        if target.shape != (len(stimuli), len(stimuli)):
            raise NeuroregError(
                f"target has shape {target.shape}, expected ({len(stimuli)}, {len(stimuli)}) "
                "for the stimuli given"
            )
        if not np.isfinite(target).all():
            raise NeuroregError("the similarity target holds NaN or infinite values")
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    model = SmallResNet(classes, settings.widths, settings.strides)
    penalty = SimilarityPenalty(model.n_representations)
    groups = [{"params": list(model.parameters()), "weight_decay": settings.weight_decay}]
    if use_penalty:
        groups.append({"params": list(penalty.parameters()), "weight_decay": 0.0})
    optimizer: torch.optim.Optimizer
    if settings.optimizer == "adam":
        optimizer = torch.optim.Adam(groups, lr=settings.lr)
    else:
        optimizer = torch.optim.SGD(groups, lr=settings.lr, momentum=settings.momentum)
    per_epoch = math.ceil(len(images) / settings.batch_size)
    total = settings.epochs * per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
    )
    x_all, y_all = as_tensor(images), torch.from_numpy(y)
    s_all = as_tensor(stimuli) if use_penalty and stimuli is not None else None
    t_all = torch.from_numpy(target) if use_penalty and target is not None else None
    pair_batch = min(settings.pair_batch, len(stimuli)) if stimuli is not None else 0
    history: dict[str, list[float]] = {"cross_entropy": [], "penalty": []}
    model.train()
    for epoch in range(settings.epochs):
        order = torch.from_numpy(rng.permutation(len(images)))
        ce_sum = pen_sum = 0.0
        for step in range(per_epoch):
            idx = order[step * settings.batch_size : (step + 1) * settings.batch_size]
            loss = F.cross_entropy(model(x_all[idx]), y_all[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            ce_sum += float(loss.detach())
            if s_all is not None and t_all is not None:
                pick = torch.from_numpy(rng.choice(len(s_all), pair_batch, replace=False))
                pen = penalty(model.features(s_all[pick]), t_all[pick][:, pick])
                optimizer.zero_grad(set_to_none=True)
                (settings.alpha * pen).backward()
                optimizer.step()
                pen_sum += float(pen.detach())
            schedule.step()
        history["cross_entropy"].append(ce_sum / per_epoch)
        history["penalty"].append(pen_sum / per_epoch if use_penalty else 0.0)
        if log is not None:
            log(
                f"epoch {epoch + 1}/{settings.epochs}: cross-entropy "
                f"{history['cross_entropy'][-1]:.3f}, penalty {history['penalty'][-1]:.3f}"
            )
    model.eval()
    weights = penalty.layer_weights().detach().tolist() if use_penalty else []
    return TrainedClassifier(model, weights, history)
