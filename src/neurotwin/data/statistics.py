"""Per-field statistics of a recording (mean, std, min, max, median), computed by streaming.

The SENSORIUM releases ship ``meta/statistics/{field}/all/{stat}.npy`` computed on the
training tier; :class:`StatisticsAccumulator` computes the same from trials fed one chunk
at a time, so neither the writer nor :func:`compute_statistics` holds a recording in memory.
"""

from __future__ import annotations

import numpy as np

from neurotwin.data.layout import Layout
from neurotwin.data.recording import Recording

#: At most this many values per field are kept to estimate the median; mean, std, min and
#: max are always exact. Below this size the median is exact too.
MEDIAN_SAMPLE_VALUES = 1 << 22


def as_rows(field: str, array: np.ndarray, layout: Layout) -> np.ndarray:
    """Reshape one trial's array to ``(samples, features)`` for statistics.

    Parameters
    ----------
    field
        The data folder the array comes from.
    array
        One trial, in its on-disk shape.
    layout
        The release layout.

    Returns
    -------
    numpy.ndarray
        Stimulus values as one feature (a scalar statistic), responses with one feature per
        neuron, behaviour and eye position with one per channel. Padded (NaN) video frames
        are dropped.
    """
    if field == layout.stimulus:
        rows = array.reshape(-1, 1)
    elif not layout.has_frames:
        rows = array.reshape(1, -1)
    else:
        rows = array.T  # (channels, T) -> (T, channels)
    rows = np.asarray(rows, dtype=np.float64)
    return rows[~np.isnan(rows).any(axis=1)] if layout.has_frames else rows


class StatisticsAccumulator:
    """Streaming mean, std (ddof 0), min, max and (sampled) median of one field.

    Parameters
    ----------
    scalar
        Whether the statistic is one number (stimulus) rather than one per feature.
    """

    def __init__(self, scalar: bool) -> None:
        self.scalar = scalar
        self.count = 0
        self._sum: np.ndarray | None = None
        self._sumsq: np.ndarray | None = None
        self._min: np.ndarray | None = None
        self._max: np.ndarray | None = None
        self._samples: list[np.ndarray] = []
        self._kept = 0
        self._stride = 1
        self._seen = 0

    def update(self, rows: np.ndarray) -> None:
        """Add samples, shaped ``(samples, features)``."""
        if rows.shape[0] == 0:
            return
        if self._sum is None:
            nf = rows.shape[1]
            self._sum, self._sumsq = np.zeros(nf), np.zeros(nf)
            self._min, self._max = np.full(nf, np.inf), np.full(nf, -np.inf)
        assert self._sumsq is not None and self._min is not None and self._max is not None
        self.count += rows.shape[0]
        self._sum += rows.sum(axis=0)
        self._sumsq += np.square(rows).sum(axis=0)
        np.minimum(self._min, rows.min(axis=0), out=self._min)
        np.maximum(self._max, rows.max(axis=0), out=self._max)
        # keep every stride-th sample (global positions), halving when the buffer is full
        first = (-self._seen) % self._stride
        kept = rows[first :: self._stride]
        self._seen += rows.shape[0]
        self._samples.append(kept.astype(np.float32))
        self._kept += kept.size
        if self._kept > MEDIAN_SAMPLE_VALUES:
            merged = np.concatenate(self._samples)[::2]
            self._samples, self._kept, self._stride = [merged], merged.size, self._stride * 2

    def result(self) -> dict[str, np.ndarray]:
        """Return the statistics, as float32 arrays (0-d for a scalar field)."""
        if self._sum is None or self.count == 0:
            raise ValueError("no samples were added")
        assert self._sumsq is not None and self._min is not None and self._max is not None
        if self.scalar:
            mean = self._sum.sum() / self.count
            var = self._sumsq.sum() / self.count - mean**2
            out = {
                "mean": mean,
                "std": np.sqrt(max(var, 0.0)),
                "min": self._min.min(),
                "max": self._max.max(),
                "median": np.median(np.concatenate(self._samples)),
            }
        else:
            mean_v = self._sum / self.count
            var_v = self._sumsq / self.count - mean_v**2
            out = {
                "mean": mean_v,
                "std": np.sqrt(np.maximum(var_v, 0.0)),
                "min": self._min,
                "max": self._max,
                "median": np.median(np.concatenate(self._samples), axis=0),
            }
        return {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}


def compute_statistics(
    recording: Recording, tier: str = "train"
) -> dict[str, dict[str, np.ndarray]]:
    """Compute every field's statistics over one tier of a recording, streaming its trials.

    Parameters
    ----------
    recording
        An open recording.
    tier
        The tier to summarise (the releases use ``train``).

    Returns
    -------
    dict
        ``{field: {stat: array}}`` for every field present.
    """
    layout = recording.layout
    accs = {f: StatisticsAccumulator(scalar=f == layout.stimulus) for f in recording.fields}
    for index in recording.tier_indices(tier):
        for field, acc in accs.items():
            acc.update(as_rows(field, recording.load(field, int(index)), layout))
    return {field: acc.result() for field, acc in accs.items()}
