"""One loader entry point for static and video recordings: ``{tier: {recording_key: DataLoader}}``.

:func:`make_loaders` takes recordings (paths or open :class:`Recording` objects) and a typed
:class:`LoaderConfig` (batch size, shuffling, the batch fields a model needs, tiers,
preprocessing); :func:`static_loaders` and :func:`video_loaders` are its keyword forms, kept
for the 2022 kit's callers. Every :class:`~torch.utils.data.DataLoader` of neurotwin is built
by :func:`batch_loader` over an :class:`EpochBatches` batch sampler (or an explicit list of
batches): the trainer reads a loader's batch size and shuffling from that sampler and draws
each epoch's batches as a pure function of (seed, epoch, recording), so a resumed run draws
the batches an uninterrupted one would have.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch.utils.data import DataLoader

from neurotwin.data.cache import RecordingCache, cache_for
from neurotwin.data.datasets import (
    Batch,
    EpochBatches,
    Interleaved,
    StaticTrials,
    VideoClips,
    batch_loader,
    epoch_batches,
    epoch_sampler,
)
from neurotwin.data.normalize import Normalizer
from neurotwin.data.problems import Problem, RecordingError
from neurotwin.data.recording import Recording, open_recording

__all__ = [
    "EpochBatches",
    "Interleaved",
    "LoaderConfig",
    "batch_loader",
    "epoch_batches",
    "epoch_sampler",
    "make_loaders",
    "scaled_hw",
    "static_loaders",
    "video_loaders",
]

PathLike = str | os.PathLike[str]
#: A recording given by its folder or zip, or already open.
RecordingLike = PathLike | Recording
#: Batch field of the stimulus of each kind of recording.
STIMULUS_FIELDS = {"static": "images", "video": "videos"}
#: Fields a model may ask for beside its stimulus.
OPTIONAL_FIELDS = ("behavior", "pupil_center")
#: Default resize factor of each kind (static 144 x 256 -> 36 x 64, as the 2022 kit).
DEFAULT_SCALE = {"static": 0.25, "video": 1.0}


@dataclass(frozen=True)
class LoaderConfig:
    """What the loaders of :func:`make_loaders` deliver.

    Attributes
    ----------
    batch_size
        Trials (video: clips) per batch (128).
    fields
        Batch fields besides ``responses``: a model's ``required_fields`` (its stimulus
        field, ``"images"`` or ``"videos"``, then any of ``"behavior"``,
        ``"pupil_center"``). None: the recordings' stimulus only.
    tiers
        Tiers to build loaders for; all tiers present when None.
    shuffle
        Shuffle the ``train`` tier each epoch (other tiers keep file order).
    seed
        Seed of the shuffling (the recording's position in the list tells recordings
        apart); the trainer draws its own order from ``TrainConfig.seed``.
    scale
        Resize factor of the stimulus, applied once when the cache is built; None: 0.25
        for static recordings (144 x 256 -> 36 x 64), 1.0 for video.
    size
        Exact ``(height, width)``; overrides ``scale``.
    normalize
        Apply the standard normalisation (see :mod:`neurotwin.data.normalize`).
    preprocessing
        How static images are resized: ``"neurotwin"`` (once, anti-aliased) or ``"kit"``
        (the 2022 kit's rescale without anti-aliasing, for kit weights).
    frames
        Video: length of the training clips (80).
    max_frames
        Video: cut evaluation trials to at most this many frames (None: their length).
    num_workers, pin_memory
        Passed to :class:`torch.utils.data.DataLoader`.
    """

    batch_size: int = 128
    fields: tuple[str, ...] | None = None
    tiers: tuple[str, ...] | None = None
    shuffle: bool = True
    seed: int = 0
    scale: float | None = None
    size: tuple[int, int] | None = None
    normalize: bool = True
    preprocessing: str = "neurotwin"
    frames: int = 80
    max_frames: int | None = None
    num_workers: int = 0
    pin_memory: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int):
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")
        if self.fields is not None:
            fields = tuple(self.fields)
            stimulus = set(STIMULUS_FIELDS.values())
            if not fields or fields[0] not in stimulus:
                raise ValueError(
                    f"fields must start with the stimulus field ({' or '.join(sorted(stimulus))}),"
                    f" got {fields!r}"
                )
            unknown = [f for f in fields[1:] if f not in OPTIONAL_FIELDS]
            if unknown:
                raise ValueError(
                    f"unknown batch field(s) {unknown}; known: {', '.join(OPTIONAL_FIELDS)}"
                )
            object.__setattr__(self, "fields", fields)
        if self.tiers is not None:
            object.__setattr__(self, "tiers", tuple(self.tiers))

    def replace(self, **changes: Any) -> LoaderConfig:
        """Return a copy with some fields changed.

        Parameters
        ----------
        **changes
            New values of fields.

        Returns
        -------
        LoaderConfig
            The new config.
        """
        return dataclasses.replace(self, **changes)


def _open_all(recordings: RecordingLike | Sequence[RecordingLike]) -> list[Recording]:
    if isinstance(recordings, str | os.PathLike | Recording):
        recordings = [recordings]
    if not recordings:
        raise ValueError("no recording paths given")
    opened: list[Recording] = [open_recording(r) for r in recordings]
    keys = [r.key for r in opened]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise ValueError(f"several recordings share the key(s) {duplicates}; pass each once")
    return opened


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


def _fields(recording: Recording, wanted: tuple[str, ...]) -> tuple[str, ...]:
    fields = (wanted[0], "responses", *wanted[1:])
    missing = [f for f in fields if f not in recording.fields]
    if missing:
        raise RecordingError(
            Problem(recording.source.where("data"), f"has no {', '.join(missing)} folder")
        )
    return fields


def _kind_of(recordings: list[Recording], config: LoaderConfig, expected: str | None) -> str:
    """Return the kind of every recording, or raise naming the one that differs."""
    if expected is not None:
        kind, hint = (
            expected,
            "use " + ("video_loaders" if expected == "static" else "static_loaders"),
        )
    elif config.fields is not None:
        kind = next(k for k, f in STIMULUS_FIELDS.items() if f == config.fields[0])
        hint = f"the batches need {config.fields[0]!r}"
    else:
        kind, hint = recordings[0].kind, f"the first recording is a {recordings[0].kind} one"
    for recording in recordings:
        if recording.kind != kind:
            raise RecordingError(
                Problem(recording.location, f"is a {recording.kind} recording; {hint}")
            )
    return kind


def make_loaders(
    recordings: RecordingLike | Sequence[RecordingLike],
    config: LoaderConfig | None = None,
    *,
    cache_dir: PathLike | None = None,
    progress: bool = True,
) -> dict[str, dict[str, DataLoader[Batch]]]:
    """Build the loaders of static or video recordings: the one entry point.

    Static tiers yield trials; a video ``train`` tier yields clips of ``config.frames``
    frames starting at a random valid frame (trials shorter than that are skipped), its
    other tiers whole trials cut to ``config.max_frames`` and zero-padded to the longest
    trial of the batch, with their valid ``length``.

    Parameters
    ----------
    recordings
        One or more recording folders or zips, or open recordings (each opened once).
    config
        What the loaders deliver (:class:`LoaderConfig` defaults when None); pass a model's
        fields as ``LoaderConfig(fields=model.required_fields)``.
    cache_dir
        Where consolidated caches live (see :func:`neurotwin.data.cache.default_cache_dir`).
    progress
        Show a progress bar while a cache is built.

    Returns
    -------
    dict
        ``{tier: {recording_key: DataLoader}}``; a tier whose responses are withheld (all
        zero) yields batches without ``responses``.

    Raises
    ------
    RecordingError
        For recordings of another kind than the fields ask for (or of mixed kinds), or
        without a field asked for.
    ValueError
        For no recordings, or several with the same key.
    """
    return _build(_open_all(recordings), config or LoaderConfig(), None, cache_dir, progress)


def _build(
    recordings: list[Recording],
    config: LoaderConfig,
    expected: str | None,
    cache_dir: PathLike | None,
    progress: bool,
) -> dict[str, dict[str, DataLoader[Batch]]]:
    kind = _kind_of(recordings, config, expected)
    wanted = config.fields or (STIMULUS_FIELDS[kind],)
    scale = DEFAULT_SCALE[kind] if config.scale is None else config.scale
    out: dict[str, dict[str, DataLoader[Batch]]] = {}
    for number, recording in enumerate(recordings):
        hw = config.size or scaled_hw(recording.stimulus_hw, scale)
        preprocessing = config.preprocessing if kind == "static" else "neurotwin"
        cache = cache_for(recording, hw, cache_dir, progress=progress, preprocessing=preprocessing)
        fields = _fields(recording, wanted)
        normalizer = Normalizer.from_recording(recording, fields) if config.normalize else None
        tiers = list(recording.tier_counts) if config.tiers is None else list(config.tiers)
        for tier in tiers:
            indices = recording.tier_indices(tier)  # raises on an unknown tier
            if not len(indices):
                continue
            tier_fields = fields
            if tier in cache.withheld_tiers:
                tier_fields = tuple(f for f in fields if f != "responses")
            dataset = _dataset(kind, config, cache, indices, normalizer, tier_fields, tier)
            if len(dataset) < len(indices):
                warnings.warn(
                    f"{recording.location}: tier {tier!r}: {len(indices) - len(dataset)} of "
                    f"{len(indices)} trials are shorter than {config.frames} frames and are "
                    "skipped",
                    stacklevel=3,
                )
            if not len(dataset):
                continue
            sampler = EpochBatches(
                len(dataset),
                config.batch_size,
                shuffle=config.shuffle and tier == "train",
                seed=config.seed,
                stream=number,
            )
            out.setdefault(tier, {})[recording.key] = batch_loader(
                dataset, sampler, num_workers=config.num_workers, pin_memory=config.pin_memory
            )
    return out


def _dataset(
    kind: str,
    config: LoaderConfig,
    cache: RecordingCache,
    indices: np.ndarray,
    normalizer: Normalizer | None,
    fields: tuple[str, ...],
    tier: str,
) -> StaticTrials:
    if kind == "static":
        return StaticTrials(cache, indices, normalizer, fields)
    if tier == "train":
        return VideoClips(cache, indices, normalizer, fields, config.frames, random_start=True)
    return VideoClips(cache, indices, normalizer, fields, None, False, config.max_frames)


def _wanted(stimulus: str, include_behavior: bool, include_eye_position: bool) -> tuple[str, ...]:
    return (
        stimulus,
        *(("behavior",) if include_behavior else ()),
        *(("pupil_center",) if include_eye_position else ()),
    )


def static_loaders(
    paths: RecordingLike | Sequence[RecordingLike],
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
    """Build loaders for static (SENSORIUM 2022) recordings (:func:`make_loaders`' keywords).

    Parameters
    ----------
    paths
        One or more recording folders or zips, or open recordings.
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
    config = LoaderConfig(
        batch_size=batch_size,
        fields=_wanted("images", include_behavior, include_eye_position),
        tiers=None if tiers is None else tuple(tiers),
        shuffle=shuffle,
        seed=seed,
        scale=scale,
        size=image_size,
        normalize=normalize,
        preprocessing=preprocessing,
        num_workers=num_workers,
        pin_memory=pin_memory,
    )
    return _build(_open_all(paths), config, "static", cache_dir, progress)


def video_loaders(
    paths: RecordingLike | Sequence[RecordingLike],
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
    """Build loaders for video (SENSORIUM 2023) recordings (:func:`make_loaders`' keywords).

    The ``train`` tier yields clips of ``frames`` frames starting at a random valid frame
    (trials shorter than that are skipped); every other tier yields whole trials, cut to
    ``max_frames`` and zero-padded to the longest trial of the batch, with their valid
    ``length``.

    Parameters
    ----------
    paths
        One or more recording folders or zips, or open recordings.
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
        Add ``behavior`` ``(B, 2, T)`` and ``pupil_center`` ``(B, 2, T)`` to every batch.
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
    config = LoaderConfig(
        batch_size=batch_size,
        fields=_wanted("videos", include_behavior, include_eye_position),
        tiers=None if tiers is None else tuple(tiers),
        shuffle=shuffle,
        seed=seed,
        scale=scale,
        size=frame_size,
        normalize=normalize,
        frames=frames,
        max_frames=max_frames,
        num_workers=num_workers,
        pin_memory=pin_memory,
    )
    return _build(_open_all(paths), config, "video", cache_dir, progress)
