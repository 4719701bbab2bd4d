"""A linear baseline: ridge regression from pooled pixels (and behaviour) to responses.

It is fitted in closed form from the batches of the loaders (one pass accumulates
``X^T X`` and ``X^T Y``), with the penalty chosen by the validation correlation. It is the
floor every deep model should clear, and it makes the whole pipeline (loaders, submission,
scorer) run in seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from neurotwin.scoring.metrics import correlation

Batch = dict[str, torch.Tensor]

#: Penalties tried, relative to the mean diagonal of ``X^T X``.
PENALTIES = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)


class PixelRidge:
    """Ridge regression on average-pooled images, behaviour and eye position.

    Parameters
    ----------
    pool
        Images are average-pooled by this factor before the regression (36x64 -> 9x16
        with the default 4).
    penalties
        Relative penalties to choose from on the validation tier.
    """

    def __init__(self, pool: int = 4, penalties: Sequence[float] = PENALTIES) -> None:
        if pool < 1:
            raise ValueError(f"pool must be a positive integer, got {pool}")
        self.pool = pool
        self.penalties = tuple(penalties)
        self.weights: np.ndarray | None = None
        self.penalty: float | None = None
        self.validation_correlation: float | None = None

    def features(self, batch: Batch) -> np.ndarray:
        """Return the design matrix of one batch: pooled pixels, behaviour, eye, a bias."""
        images = batch["images"]
        pooled = F.avg_pool2d(images, self.pool, ceil_mode=True).flatten(1)
        parts = [pooled] + [batch[k] for k in ("behavior", "pupil_center") if k in batch]
        parts.append(torch.ones(len(images), 1))
        return torch.cat(parts, dim=1).double().numpy()

    def fit(self, train: Iterable[Batch], validation: Iterable[Batch]) -> PixelRidge:
        """Fit on the training batches, choosing the penalty on the validation batches.

        Parameters
        ----------
        train, validation
            Batches with ``images``, ``responses`` and optionally ``behavior`` and
            ``pupil_center`` (e.g. ``static_loaders(...)[tier][key]``).

        Returns
        -------
        PixelRidge
            Itself, fitted.
        """
        gram: np.ndarray | None = None
        cross: np.ndarray | None = None
        for batch in train:
            x = self.features(batch)
            y = batch["responses"].double().numpy()
            gram = x.T @ x if gram is None else gram + x.T @ x
            cross = x.T @ y if cross is None else cross + x.T @ y
        if gram is None or cross is None:
            raise ValueError("no training batches")
        val_x, val_y = self._stack(validation)
        scale = float(np.mean(np.diag(gram)))
        best = -np.inf
        for penalty in self.penalties:
            weights = np.linalg.solve(gram + penalty * scale * np.eye(len(gram)), cross)
            score = float(correlation(val_x @ weights, val_y).mean())
            if score > best:
                best, self.weights, self.penalty = score, weights, penalty
        self.validation_correlation = best
        return self

    def _stack(self, batches: Iterable[Batch]) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = zip(*((self.features(b), b["responses"].numpy()) for b in batches), strict=True)
        return np.concatenate(xs), np.concatenate(ys)

    def predict(self, batches: Iterable[Batch]) -> tuple[np.ndarray, np.ndarray]:
        """Predict every batch.

        Parameters
        ----------
        batches
            Batches with the same inputs as in :meth:`fit` (responses are not needed).

        Returns
        -------
        index : numpy.ndarray
            The file index of each predicted trial.
        predictions : numpy.ndarray
            ``(n_trials, n_neurons)`` float32, in the loaders' (standardised) unit.
        """
        if self.weights is None:
            raise RuntimeError("PixelRidge.predict called before fit")
        indices, predictions = [], []
        for batch in batches:
            indices.append(batch["index"].numpy())
            predictions.append((self.features(batch) @ self.weights).astype(np.float32))
        return np.concatenate(indices), np.concatenate(predictions)
