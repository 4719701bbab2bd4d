"""Torch datasets over a recording cache that return whole batches at once.

Indexing a dataset with an array of positions returns one batch, read with a single
vectorised (memory-mapped) gather per field and normalised in one operation: there is no
per-sample Python work in an epoch. Batches are dicts of tensors:

- static: ``images`` ``(B, 1, H, W)``, ``responses`` ``(B, n)``, ``behavior`` ``(B, 3)``,
  ``pupil_center`` ``(B, 2)``, ``index`` ``(B,)`` (the file index of each trial);
- video: ``videos`` ``(B, 1, T, H, W)``, ``responses`` ``(B, T, n)``, ``behavior``
  ``(B, T, 2)``, ``pupil_center`` ``(B, T, 2)``, ``index``, ``start`` (first frame of the
  clip) and ``length`` (valid frames of each clip; frames past it are zero).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from neurotwin.data.cache import RecordingCache
from neurotwin.data.normalize import Normalizer

Batch = dict[str, torch.Tensor]


def _positions(item: Any) -> tuple[np.ndarray, bool]:
    single = np.ndim(item) == 0
    return np.atleast_1d(np.asarray(item, dtype=np.int64)), single


class StaticTrials(Dataset[Batch]):
    """Trials of one tier of a static recording.

    Parameters
    ----------
    cache
        The recording's cache.
    indices
        File indices of the trials in this dataset.
    normalizer
        Applied to every field; None keeps raw values.
    fields
        Fields to put in each batch (stimulus first).
    """

    def __init__(
        self,
        cache: RecordingCache,
        indices: np.ndarray,
        normalizer: Normalizer | None,
        fields: Sequence[str],
    ) -> None:
        self.cache = cache
        self.indices = np.asarray(indices, dtype=np.int64)
        self.normalizer = normalizer
        self.fields = tuple(fields)

    def __len__(self) -> int:
        return len(self.indices)

    def _field(self, field: str, data: np.ndarray) -> torch.Tensor:
        if self.normalizer is not None:
            data = self.normalizer(field, data)
        return torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))

    def __getitem__(self, item: Any) -> Batch:
        positions, single = _positions(item)
        trials = np.sort(self.indices[positions])
        batch = {f: self._field(f, self.cache.array(f)[trials]) for f in self.fields}
        batch["index"] = torch.from_numpy(trials)
        return {k: v[0] for k, v in batch.items()} if single else batch


class VideoClips(StaticTrials):
    """Clips of the trials of one tier of a video recording.

    Parameters
    ----------
    cache
        The recording's cache.
    indices
        File indices of the trials in this dataset.
    normalizer
        Applied to every field; None keeps raw values.
    fields
        Fields to put in each batch (stimulus first).
    frames
        Clip length. None returns whole trials (up to ``max_frames``), zero-padded to the
        longest trial of the batch.
    random_start
        Draw each clip's first frame uniformly among the valid ones (training); otherwise
        clips start at frame 0.
    max_frames
        With ``frames=None``, cut trials to at most this many frames.
    """

    def __init__(
        self,
        cache: RecordingCache,
        indices: np.ndarray,
        normalizer: Normalizer | None,
        fields: Sequence[str],
        frames: int | None,
        random_start: bool,
        max_frames: int | None = None,
    ) -> None:
        indices = np.asarray(indices, dtype=np.int64)
        if frames is not None:
            if frames < 1:
                raise ValueError(f"frames must be positive, got {frames}")
            long_enough = cache.lengths[indices] >= frames
            indices = indices[long_enough]  # shorter trials cannot give a full clip
        super().__init__(cache, indices, normalizer, fields)
        self.frames = frames
        self.random_start = random_start
        self.max_frames = max_frames

    def __getitem__(self, item: Any) -> Batch:
        positions, single = _positions(item)
        trials = np.sort(self.indices[positions])
        lengths = self.cache.lengths[trials]
        if self.frames is not None:
            window = self.frames
            if self.random_start:
                spare = torch.from_numpy(lengths - window + 1)
                starts = (torch.rand(len(trials)) * spare).long().numpy()
            else:
                starts = np.zeros(len(trials), dtype=np.int64)
            valid = np.full(len(trials), window, dtype=np.int64)
        else:
            window = int(lengths.max())
            if self.max_frames is not None:
                window = min(window, self.max_frames)
            starts = np.zeros(len(trials), dtype=np.int64)
            valid = np.minimum(lengths, window)
        time_index = starts[:, None] + np.arange(window)[None, :]
        time_index = np.minimum(time_index, self.cache.meta["n_frames"] - 1)
        pad = np.arange(window)[None, :] >= valid[:, None]  # (B, window)
        batch = {}
        for field in self.fields:
            data = np.asarray(self.cache.array(field)[trials[:, None], time_index])
            if self.normalizer is not None:
                data = self.normalizer(field, data)
            data = np.where(pad.reshape(pad.shape + (1,) * (data.ndim - 2)), 0.0, data)
            tensor = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))
            batch[field] = tensor.unsqueeze(1) if field == "videos" else tensor
        batch["index"] = torch.from_numpy(trials)
        batch["start"] = torch.from_numpy(starts)
        batch["length"] = torch.from_numpy(valid)
        return {k: v[0] for k, v in batch.items()} if single else batch
