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

import warnings
from collections.abc import Mapping
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


def response_scale(stats: Mapping[str, np.ndarray], *, per_frame: bool = False) -> np.ndarray:
    """Return what each neuron's responses are divided by to reach the standardised unit.

    This is the one definition of the rule, used by the loaders and by the scorer: the
    per-neuron ``std`` of ``meta/statistics/responses/all``; a neuron whose std is at most
    1% of the mean std across neurons is divided by ``0.01 * mean(std)`` instead; responses
    are never centred.

    Parameters
    ----------
    stats
        The response statistics (``recording.statistics("responses")``): ``std`` and, when
        the std carries a time axis, ``mean``.
    per_frame
        Compatibility with the official 2023 scorer: keep a ``(n_neurons, T)`` std per frame
        (the floor then applies frame by frame). By default a time axis is reduced to one
        std per neuron with :func:`collapse_statistics`.

    Returns
    -------
    numpy.ndarray
        ``(n_neurons,)`` float64, or ``(n_neurons, T)`` with ``per_frame`` and a time axis.
    """
    if "std" not in stats:
        raise ValueError("response statistics need a 'std'")
    std = np.asarray(stats["std"], dtype=np.float64)
    if std.ndim not in (1, 2):
        raise ValueError(f"response std has shape {std.shape}, expected (n,) or (n, T)")
    if std.ndim == 2 and not per_frame:
        mean = stats.get("mean")
        if mean is None:
            mean = np.zeros_like(std)  # no mean: only the within-frame variance is known
        std = collapse_statistics(np.asarray(mean), std, std.shape[0])[1]
    with warnings.catch_warnings():
        # an all-NaN frame (the tail of the per-frame statistics) gets a NaN floor; the
        # scorer refuses NaN only inside the scored window, with the frame named
        warnings.simplefilter("ignore", RuntimeWarning)
        floor = RESPONSE_STD_FLOOR * np.nanmean(std, axis=0, keepdims=True)
    return np.where(std > floor, std, np.broadcast_to(floor, std.shape)).reshape(std.shape)


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
            if field == "responses":
                scale = response_scale(stats).astype(np.float32)
                transforms[field] = Affine(np.zeros((), np.float32), scale)
                continue
            mean, std = collapse_statistics(stats["mean"], stats["std"], width)
            # a constant channel (zeroed behaviour in a stimulus-only release) stays unscaled
            safe = np.where(std > 0, std, 1.0)
            offset = np.zeros(()) if field == "behavior" else mean
            transforms[field] = Affine(offset.astype(np.float32), safe.astype(np.float32))
        return cls(transforms)

    def __call__(self, field: str, x: np.ndarray) -> np.ndarray:
        """Normalise one field's array (features on the last axis)."""
        transform = self.transforms.get(field)
        return x.astype(np.float32, copy=False) if transform is None else transform(x)
