"""One-line loaders: ``{tier: {recording_key: DataLoader}}`` for static and video recordings."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

from neurotwin.data.cache import RecordingCache, cache_for
from neurotwin.data.datasets import Batch, StaticTrials, VideoClips
from neurotwin.data.normalize import Normalizer
from neurotwin.data.problems import Problem, RecordingError
from neurotwin.data.recording import Recording, StaticRecording, VideoRecording, open_recording

PathLike = str | os.PathLike[str]


def _open_all(paths: PathLike | Sequence[PathLike], kind: str) -> list[Recording]:
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    if not paths:
        raise ValueError("no recording paths given")
    expected = StaticRecording if kind == "static" else VideoRecording
    recordings: list[Recording] = []
    for path in paths:
        recording = open_recording(path)
        if not isinstance(recording, expected):
            other = "video_loaders" if kind == "static" else "static_loaders"
            raise RecordingError(
                Problem(recording.location, f"is a {recording.kind} recording; use {other}")
            )
        recordings.append(recording)
    keys = [r.key for r in recordings]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise ValueError(f"several recordings share the key(s) {duplicates}; pass each once")
    return recordings


def scaled_hw(hw: tuple[int, int], scale: float) -> tuple[int, int]:
    """Return the size of a ``hw`` stimulus resized by ``scale`` (at least one pixel a side).

    Parameters
    ----------
    hw
        ``(height, width)`` of the stimulus on disk.
    scale
        Resize factor (0.25 turns 144x256 into 36x64).

    Returns
    -------
    tuple of int
        ``(height, width)`` the loaders hand the models.
    """
    return max(1, round(hw[0] * scale)), max(1, round(hw[1] * scale))


def _fields(
    recording: Recording, include_behavior: bool, include_eye_position: bool
) -> tuple[str, ...]:
    wanted = [recording.layout.stimulus, "responses"]
    if include_behavior:
        wanted.append("behavior")
    if include_eye_position:
        wanted.append("pupil_center")
    missing = [f for f in wanted if f not in recording.fields]
    if missing:
        raise RecordingError(
            Problem(recording.source.where("data"), f"has no {', '.join(missing)} folder")
        )
    return tuple(wanted)


def _loader(
    dataset: StaticTrials,
    batch_size: int,
    shuffle: bool,
    seed: int,
    num_workers: int,
    pin_memory: bool,
) -> DataLoader[Batch]:
    base: RandomSampler | SequentialSampler
    if shuffle:
        generator = torch.Generator().manual_seed(seed)
        base = RandomSampler(dataset, generator=generator)
    else:
        base = SequentialSampler(dataset)
    return DataLoader(
        dataset,
        sampler=BatchSampler(base, batch_size, drop_last=False),
        batch_size=None,  # the dataset returns whole batches
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
    )


def _tier_loaders(
    paths: PathLike | Sequence[PathLike],
    kind: str,
    make_dataset: Any,
    *,
    size: tuple[int, int] | None,
    scale: float,
    cache_dir: PathLike | None,
    progress: bool,
    batch_size: int,
    tiers: Sequence[str] | None,
    include_behavior: bool,
    include_eye_position: bool,
    normalize: bool,
    shuffle: bool,
    seed: int,
    num_workers: int,
    pin_memory: bool,
    preprocessing: str = "neurotwin",
) -> dict[str, dict[str, DataLoader[Batch]]]:
    """Open the recordings, build their caches and one loader per tier and recording."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    recordings = _open_all(paths, kind)
    out: dict[str, dict[str, DataLoader[Batch]]] = {}
    for number, recording in enumerate(recordings):
        hw = size or scaled_hw(recording.stimulus_hw, scale)
        cache = cache_for(recording, hw, cache_dir, progress=progress, preprocessing=preprocessing)
        fields = _fields(recording, include_behavior, include_eye_position)
        normalizer = Normalizer.from_recording(recording, fields) if normalize else None
        wanted = list(recording.tier_counts) if tiers is None else list(tiers)
        for tier in wanted:
            indices = recording.tier_indices(tier)  # raises on an unknown tier
            if not len(indices):
                continue
            tier_fields = fields
            if tier in cache.withheld_tiers:
                tier_fields = tuple(f for f in fields if f != "responses")
            dataset = make_dataset(cache, indices, normalizer, tier_fields, tier)
            if len(dataset) < len(indices):
                frames = getattr(dataset, "frames", None)
                warnings.warn(
                    f"{recording.location}: tier {tier!r}: {len(indices) - len(dataset)} of "
                    f"{len(indices)} trials are shorter than {frames} frames and are skipped",
                    stacklevel=3,
                )
            if not len(dataset):
                continue
            out.setdefault(tier, {})[recording.key] = _loader(
                dataset,
                batch_size,
                shuffle and tier == "train",
                seed + number,
                num_workers,
                pin_memory,
            )
    return out


def static_loaders(
    paths: PathLike | Sequence[PathLike],
    batch_size: int,
    *,
    scale: float = 0.25,
    image_size: tuple[int, int] | None = None,
    include_behavior: bool = False,
    include_eye_position: bool = False,
    normalize: bool = True,
    tiers: Sequence[str] | None = None,
    shuffle: bool = True,
    seed: int = 0,
    num_workers: int = 0,
    pin_memory: bool = False,
    cache_dir: PathLike | None = None,
    progress: bool = True,
    preprocessing: str = "neurotwin",
) -> dict[str, dict[str, DataLoader[Batch]]]:
    """Build loaders for static (SENSORIUM 2022) recordings.

    Parameters
    ----------
    paths
        One or more recording folders or zips.
    batch_size
        Trials per batch.
    scale
        Resize factor of the images, applied once when the cache is built
        (0.25 turns 144x256 into the usual 36x64).
    image_size
        Exact ``(height, width)``; overrides ``scale``.
    include_behavior, include_eye_position
        Add ``behavior`` ``(B, 3)`` and ``pupil_center`` ``(B, 2)`` to every batch.
    normalize
        Apply the standard normalisation (see :mod:`neurotwin.data.normalize`).
    tiers
        Tiers to build loaders for; all tiers present when None.
    shuffle
        Shuffle the ``train`` tier each epoch (other tiers keep file order).
    seed
        Seed of the shuffling (plus the recording's position in ``paths``).
    num_workers, pin_memory
        Passed to :class:`torch.utils.data.DataLoader`.
    cache_dir
        Where consolidated caches live (see :func:`neurotwin.data.cache.default_cache_dir`).
    progress
        Show a progress bar while a cache is built.
    preprocessing
        How images are resized: ``"neurotwin"`` (once, anti-aliased) or ``"kit"`` (the 2022
        kit's rescale without anti-aliasing, for kit weights); see
        :mod:`neurotwin.data.cache`.

    Returns
    -------
    dict
        ``{tier: {recording_key: DataLoader}}``; a tier whose responses are withheld (all
        zero) yields batches without ``responses``.
    """

    def make(cache: RecordingCache, indices: Any, normalizer: Any, fields: Any, tier: str) -> Any:
        return StaticTrials(cache, indices, normalizer, fields)

    return _tier_loaders(
        paths,
        "static",
        make,
        size=image_size,
        scale=scale,
        cache_dir=cache_dir,
        progress=progress,
        batch_size=batch_size,
        tiers=tiers,
        include_behavior=include_behavior,
        include_eye_position=include_eye_position,
        normalize=normalize,
        shuffle=shuffle,
        seed=seed,
        num_workers=num_workers,
        pin_memory=pin_memory,
        preprocessing=preprocessing,
    )


def video_loaders(
    paths: PathLike | Sequence[PathLike],
    batch_size: int,
    *,
    frames: int = 80,
    scale: float = 1.0,
    frame_size: tuple[int, int] | None = None,
    max_frames: int | None = None,
    include_behavior: bool = False,
    include_eye_position: bool = False,
    normalize: bool = True,
    tiers: Sequence[str] | None = None,
    shuffle: bool = True,
    seed: int = 0,
    num_workers: int = 0,
    pin_memory: bool = False,
    cache_dir: PathLike | None = None,
    progress: bool = True,
) -> dict[str, dict[str, DataLoader[Batch]]]:
    """Build loaders for video (SENSORIUM 2023) recordings.

    The ``train`` tier yields clips of ``frames`` frames starting at a random valid frame
    (trials shorter than that are skipped); every other tier yields whole trials, cut to
    ``max_frames`` and zero-padded to the longest trial of the batch, with their valid
    ``length``.

    Parameters
    ----------
    paths
        One or more recording folders or zips.
    batch_size
        Trials (clips) per batch.
    frames
        Length of the training clips.
    scale
        Resize factor of the video frames, applied once when the cache is built.
    frame_size
        Exact ``(height, width)`` of the frames; overrides ``scale``.
    max_frames
        Cut evaluation trials to at most this many frames (None: their true length).
    include_behavior, include_eye_position
        Add ``behavior`` ``(B, T, 2)`` and ``pupil_center`` ``(B, T, 2)`` to every batch.
    normalize
        Apply the standard normalisation, per neuron for responses.
    tiers
        Tiers to build loaders for; all tiers present when None.
    shuffle
        Shuffle the ``train`` tier each epoch.
    seed
        Seed of the shuffling (plus the recording's position in ``paths``).
    num_workers, pin_memory
        Passed to :class:`torch.utils.data.DataLoader`.
    cache_dir
        Where consolidated caches live.
    progress
        Show a progress bar while a cache is built.

    Returns
    -------
    dict
        ``{tier: {recording_key: DataLoader}}``.
    """

    def make(cache: RecordingCache, indices: Any, normalizer: Any, fields: Any, tier: str) -> Any:
        if tier == "train":
            return VideoClips(cache, indices, normalizer, fields, frames, random_start=True)
        return VideoClips(cache, indices, normalizer, fields, None, False, max_frames)

    return _tier_loaders(
        paths,
        "video",
        make,
        size=frame_size,
        scale=scale,
        cache_dir=cache_dir,
        progress=progress,
        batch_size=batch_size,
        tiers=tiers,
        include_behavior=include_behavior,
        include_eye_position=include_eye_position,
        normalize=normalize,
        shuffle=shuffle,
        seed=seed,
        num_workers=num_workers,
        pin_memory=pin_memory,
    )


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
