"""Torch datasets over a recording cache that return whole batches at once.

Indexing a dataset with an array of positions returns one batch, read with a single
vectorised (memory-mapped) gather per field and normalised in one operation: there is no
per-sample Python work in an epoch. Batches are dicts of tensors:

- static: ``images`` ``(B, 1, H, W)``, ``responses`` ``(B, n)``, ``behavior`` ``(B, 3)``,
  ``pupil_center`` ``(B, 2)``, ``index`` ``(B,)`` (the file index of each trial);
- video: ``videos`` ``(B, 1, T, H, W)``, ``responses`` ``(B, T, n)``, ``behavior``
  ``(B, 2, T)``, ``pupil_center`` ``(B, 2, T)`` (channels first, as the video models read
  them: :mod:`neurotwin.models.contract`), ``index``, ``start`` (first frame of the clip)
  and ``length`` (valid frames of each clip; frames past it are zero).

:class:`EpochBatches` draws the batches of each epoch as a pure function of (seed, epoch,
stream), :func:`batch_loader` is the one place where a
:class:`~torch.utils.data.DataLoader` is built over such a dataset, and :class:`Interleaved`
takes one batch of each recording's loader in turn.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

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

    def frames_per_pass(self) -> int:
        """Return the stimulus frames one pass over the dataset feeds a model (images here)."""
        return len(self)

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

    def frames_per_pass(self) -> int:
        """Return the frames one pass feeds a model: clip frames, or the trials' lengths."""
        if self.frames is not None:
            return self.frames * len(self)
        lengths = self.cache.lengths[self.indices]
        if self.max_frames is not None:
            lengths = np.minimum(lengths, self.max_frames)
        return int(lengths.sum())

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
            if field in ("behavior", "pupil_center"):
                data = data.transpose(0, 2, 1)  # (B, T, C) on disk order -> (B, C, T)
            tensor = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))
            batch[field] = tensor.unsqueeze(1) if field == "videos" else tensor
        batch["index"] = torch.from_numpy(trials)
        batch["start"] = torch.from_numpy(starts)
        batch["length"] = torch.from_numpy(valid)
        return {k: v[0] for k, v in batch.items()} if single else batch


def epoch_batches(
    n: int, batch_size: int, *, seed: int, epoch: int, stream: int, shuffle: bool = True
) -> list[np.ndarray]:
    """Split positions ``0..n-1`` into the batches of one epoch.

    Parameters
    ----------
    n
        Trials in the dataset.
    batch_size
        Trials per batch; the last batch may be smaller (the kit keeps it).
    seed, epoch, stream
        The permutation is a pure function of these (``stream`` tells recordings apart).
    shuffle
        Permute the positions; otherwise keep them in order.

    Returns
    -------
    list of numpy.ndarray
        The positions of each batch.
    """
    if shuffle:
        order = np.random.default_rng([seed, epoch, stream]).permutation(n)
    else:
        order = np.arange(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


class EpochBatches(Sampler[list[int]]):
    """Batch sampler of neurotwin's loaders: each epoch's batches from (seed, epoch, stream).

    Iterating it gives the batches of epoch 0, then of epoch 1 and so on (a fresh
    permutation each time when ``shuffle``). The trainer does not iterate it: it reads
    :attr:`batch_size` and :attr:`shuffle` and asks :meth:`for_epoch` for the batches of
    the epoch it trains, with its own seed.

    Parameters
    ----------
    n
        Trials in the dataset.
    batch_size
        Trials per batch.
    shuffle
        Permute the trials each epoch.
    seed
        Seed of the permutations.
    stream
        Tells datasets apart (a recording's position in the list of recordings).
    """

    def __init__(self, n: int, batch_size: int, *, shuffle: bool, seed: int, stream: int) -> None:
        self.n = int(n)
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.stream = int(stream)
        self.epoch = 0

    def for_epoch(
        self, epoch: int, seed: int | None = None, stream: int | None = None
    ) -> list[np.ndarray]:
        """Return the batches of one epoch (a pure function of its arguments).

        Parameters
        ----------
        epoch
            The epoch.
        seed, stream
            Seed of the permutation and the stream that tells datasets apart; None: the
            sampler's own.

        Returns
        -------
        list of numpy.ndarray
            Positions of each batch.
        """
        return epoch_batches(
            self.n,
            self.batch_size,
            seed=self.seed if seed is None else seed,
            epoch=epoch,
            stream=self.stream if stream is None else stream,
            shuffle=self.shuffle,
        )

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.for_epoch(self.epoch)
        self.epoch += 1
        for batch in batches:
            yield batch.tolist()


def batch_loader(
    dataset: Dataset[Any],
    batches: EpochBatches | Sequence[np.ndarray],
    *,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader[Batch]:
    """Build a loader that hands a batch dataset whole batches of positions.

    The one place where neurotwin builds a :class:`~torch.utils.data.DataLoader`: the
    loaders of :func:`~neurotwin.data.loaders.make_loaders`, the trainer's batches of an
    epoch, its validation passes and the ensembles' re-split loaders all come from here.

    Parameters
    ----------
    dataset
        A dataset that returns a whole batch for a list of positions
        (:class:`~neurotwin.data.StaticTrials`, :class:`~neurotwin.data.VideoClips`).
    batches
        An :class:`EpochBatches` sampler (a new order every epoch), or the positions of
        each batch, handed out in this order.
    num_workers, pin_memory
        Passed to :class:`torch.utils.data.DataLoader`; workers persist between epochs
        of an :class:`EpochBatches` loader.

    Returns
    -------
    torch.utils.data.DataLoader
        Yields one batch per entry of ``batches``.
    """
    sampler: Any = batches if isinstance(batches, EpochBatches) else [b.tolist() for b in batches]
    return DataLoader(
        dataset,
        sampler=sampler,
        batch_size=None,  # the dataset returns whole batches
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0 and isinstance(batches, EpochBatches),
    )


def epoch_sampler(loader: DataLoader[Any]) -> EpochBatches:
    """Return the :class:`EpochBatches` sampler of a neurotwin loader.

    Parameters
    ----------
    loader
        A loader of :func:`~neurotwin.data.loaders.make_loaders` (or :func:`batch_loader` over an
        :class:`EpochBatches`).

    Returns
    -------
    EpochBatches
        Its sampler (batch size, shuffling).

    Raises
    ------
    ValueError
        For a loader built otherwise (its batch size and shuffling cannot be read).
    """
    sampler = loader.sampler
    if not isinstance(sampler, EpochBatches):
        raise ValueError(
            f"a loader with a {type(sampler).__name__} sampler: the trainer reads the batch size "
            "and shuffling of loaders built by neurotwin.data.make_loaders (or static_loaders, "
            "video_loaders), whose batches it can redraw for every epoch"
        )
    return sampler


class Interleaved(Iterable[tuple[str, Batch]]):
    """Iterate over several recordings' loaders, one batch of each per step.

    Shorter loaders start over until the longest is exhausted, so an epoch sees every batch
    of the largest recording once (as the 2022 starting kit's cycler did).

    Parameters
    ----------
    loaders
        ``{recording_key: DataLoader}``, e.g. ``static_loaders(...)["train"]``.

    Yields
    ------
    tuple
        ``(recording_key, batch)``.
    """

    def __init__(self, loaders: Mapping[str, Iterable[Batch]]) -> None:
        if not loaders:
            raise ValueError("no loaders to interleave")
        self.loaders = dict(loaders)
        self.steps = max(len(loader) for loader in self.loaders.values())  # type: ignore[arg-type]

    def __len__(self) -> int:
        return self.steps * len(self.loaders)

    def __iter__(self) -> Iterator[tuple[str, Batch]]:
        iterators = {key: iter(loader) for key, loader in self.loaders.items()}
        for _ in range(self.steps):
            for key, loader in self.loaders.items():
                try:
                    batch = next(iterators[key])
                except StopIteration:
                    iterators[key] = iter(loader)
                    batch = next(iterators[key])
                yield key, batch
