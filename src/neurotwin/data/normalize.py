"""The standard SENSORIUM normalisation, built from a recording's statistics.

- stimulus (images or videos): ``(x - mean) / std`` with scalar statistics;
- responses: divided by the per-neuron std, floored at 1% of the mean std across neurons
  (a neuron whose std is at most that floor is divided by the floor); no centring;
- behavior: divided by its std, no centring;
- pupil_center: z-scored.

Statistics that carry extra axes (seen in the 2023 release: a response std of shape
``(n_neurons, T)``, video statistics per frame) are reduced to one value per feature by the
law of total variance, ``var = mean_t(std_t^2 + mean_t^2) - mean^2``, which is exact when
every frame holds the same number of samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurotwin.data.recording import Recording

#: A neuron's std below this fraction of the mean std is replaced by the floor.
RESPONSE_STD_FLOOR = 0.01


def collapse_statistics(
    mean: np.ndarray, std: np.ndarray, n_features: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Reduce statistics with extra axes to one mean and std per feature.

    Parameters
    ----------
    mean, std
        Statistics as stored; features on the first axis when ``n_features`` is given.
    n_features
        Number of features (neurons, channels), or None for a scalar statistic.

    Returns
    -------
    mean, std : numpy.ndarray
        Shape ``(n_features,)``, or 0-d for a scalar statistic.
    """
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    if n_features is None:
        if std.ndim == 0:
            return mean.reshape(()), std
        mean, std = mean.reshape(1, -1), std.reshape(1, -1)
    elif std.ndim <= 1:
        return mean, std
    else:
        mean, std = mean.reshape(n_features, -1), std.reshape(n_features, -1)
        if mean.shape != std.shape:  # a per-feature mean beside a per-frame std
            mean = np.broadcast_to(mean[:, :1], std.shape)
    total_mean = np.nanmean(mean, axis=1)
    total_var = np.nanmean(std**2 + mean**2, axis=1) - total_mean**2
    total_std = np.sqrt(np.maximum(total_var, 0.0))
    if n_features is None:
        return total_mean.reshape(()), total_std.reshape(())
    return total_mean, total_std


def response_scale(std: np.ndarray) -> np.ndarray:
    """Return what each neuron's responses are divided by: its std, floored.

    Parameters
    ----------
    std
        Per-neuron standard deviation, ``(n_neurons,)``.

    Returns
    -------
    numpy.ndarray
        ``std`` where it exceeds ``RESPONSE_STD_FLOOR * mean(std)``, that floor elsewhere.
    """
    std = np.asarray(std, dtype=np.float64)
    floor = RESPONSE_STD_FLOOR * std.mean()
    return np.where(std > floor, std, floor)


@dataclass(frozen=True)
class Affine:
    """``(x - offset) / scale``, broadcast over the last axis (or scalar)."""

    offset: np.ndarray
    scale: np.ndarray

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Apply the transform, returning a new float32 array."""
        out = np.subtract(x, self.offset, dtype=np.float32)
        out /= self.scale.astype(np.float32, copy=False)
        return out


class Normalizer:
    """The standard normalisation of every field of one recording.

    Parameters
    ----------
    transforms
        One :class:`Affine` per field name.
    """

    def __init__(self, transforms: dict[str, Affine]) -> None:
        self.transforms = transforms

    @classmethod
    def from_recording(cls, recording: Recording, fields: tuple[str, ...]) -> Normalizer:
        """Build the normalisation of ``fields`` from the recording's ``all`` statistics.

        Parameters
        ----------
        recording
            An open recording with ``meta/statistics``.
        fields
            The fields to normalise.

        Returns
        -------
        Normalizer
            Ready to apply to arrays whose features lie on the last axis.
        """
        transforms = {}
        layout = recording.layout
        for field in fields:
            stats = recording.statistics(field)
            width = {
                layout.stimulus: None,
                "responses": recording.n_neurons,
                "behavior": layout.behavior_channels,
                "pupil_center": 2,
            }[field]
            mean, std = collapse_statistics(stats["mean"], stats["std"], width)
            if field == "responses":
                scale = response_scale(std).astype(np.float32)
                transforms[field] = Affine(np.zeros((), np.float32), scale)
                continue
            # a constant channel (zeroed behaviour in a stimulus-only release) stays unscaled
            safe = np.where(std > 0, std, 1.0)
            offset = np.zeros(()) if field == "behavior" else mean
            transforms[field] = Affine(offset.astype(np.float32), safe.astype(np.float32))
        return cls(transforms)

    def __call__(self, field: str, x: np.ndarray) -> np.ndarray:
        """Normalise one field's array (features on the last axis)."""
        transform = self.transforms.get(field)
        return x.astype(np.float32, copy=False) if transform is None else transform(x)
