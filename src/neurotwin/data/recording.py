"""Lazy, read-only views of one SENSORIUM recording (static 2022 or video 2023).

Opening a recording reads only its metadata listing; per-trial arrays are read when asked
for. Structural problems (missing folders, trial counts that disagree, metadata of the wrong
length) are found at open time and reported together in one :class:`RecordingError`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import cached_property

import numpy as np

from neurotwin.data.layout import LAYOUTS, Layout
from neurotwin.data.problems import RecordingError
from neurotwin.data.source import Source, open_source
from neurotwin.data.stored_statistics import read_statistics, statistics_dir, statistics_problems
from neurotwin.data.structure import structure_problems, trial_files
from neurotwin.problems import Problem

_NAME = re.compile(r"^(?:static|dynamic)(\d+)-(\d+)-(\d+)-")


def recording_key(name: str) -> str:
    """Return the ``{animal}-{session}-{scan}`` key of a recording folder name.

    Parameters
    ----------
    name
        The folder name, e.g. ``static26872-17-20-GrayImageNet-94c6...``.

    Returns
    -------
    str
        ``"26872-17-20"``, or the whole name when it does not follow the convention.
    """
    match = _NAME.match(name)
    return "-".join(match.groups()) if match else name


class Recording:
    """One recording, opened lazily from a folder or zip.

    Use :func:`open_recording` rather than the constructor: it picks the release and
    refuses a recording with structural errors.

    Parameters
    ----------
    source
        The recording's files.
    layout
        The release layout (static or video).
    """

    def __init__(self, source: Source, layout: Layout) -> None:
        self.source = source
        self.layout = layout

    # ------------------------------------------------------------------ identity
    @property
    def kind(self) -> str:
        """``"static"`` or ``"video"``."""
        return self.layout.kind

    @property
    def name(self) -> str:
        """The recording's folder name."""
        return self.source.name

    @property
    def key(self) -> str:
        """The short ``{animal}-{session}-{scan}`` key used to name readouts and loaders."""
        return recording_key(self.name)

    @property
    def location(self) -> str:
        """Where the recording is on disk."""
        return self.source.where()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.key!r}, trials={self.n_trials}, "
            f"neurons={self.n_neurons}, location={self.location!r})"
        )

    # ------------------------------------------------------------------ structure
    @cached_property
    def fields(self) -> tuple[str, ...]:
        """The per-trial data folders present, in the layout's order."""
        return tuple(f for f in self.layout.fields if self.source.is_dir(f"data/{f}"))

    @cached_property
    def n_trials(self) -> int:
        """Number of trials (files per data folder)."""
        return len(trial_files(self, self.layout.stimulus)[0])

    @cached_property
    def neurons(self) -> Mapping[str, np.ndarray]:
        """Every ``meta/neurons/*.npy`` array, by file stem."""
        return {
            n[:-4]: self.source.load(f"meta/neurons/{n}")
            for n in self.source.listdir("meta/neurons")
            if n.endswith(".npy")
        }

    @property
    def unit_ids(self) -> np.ndarray:
        """The neurons' ids, in the order of every response vector."""
        if "unit_ids" not in self.neurons:
            raise RecordingError(
                Problem(self.source.where("meta/neurons/unit_ids.npy"), "file is missing")
            )
        return self.neurons["unit_ids"]

    @property
    def n_neurons(self) -> int:
        """Number of neurons."""
        ids = self.unit_ids
        if ids.ndim != 1:
            raise RecordingError(
                Problem(
                    self.source.where("meta/neurons/unit_ids.npy"),
                    f"has shape {ids.shape}, expected one id per neuron",
                )
            )
        return len(ids)

    @property
    def cell_motor_coordinates(self) -> np.ndarray | None:
        """Cortical position of each neuron, ``(n_neurons, 3)`` micrometres, if present."""
        return self.neurons.get("cell_motor_coordinates")

    @cached_property
    def trial_info(self) -> Mapping[str, np.ndarray]:
        """Every ``meta/trials/*.npy`` array, by file stem (tiers, trial_idx, ...)."""
        return {
            n[:-4]: self.source.load(f"meta/trials/{n}")
            for n in self.source.listdir("meta/trials")
            if n.endswith(".npy")
        }

    @property
    def tiers(self) -> np.ndarray:
        """The tier of each trial, as a unicode array."""
        if "tiers" not in self.trial_info:
            raise RecordingError(
                Problem(self.source.where("meta/trials/tiers.npy"), "file is missing")
            )
        return self.trial_info["tiers"].astype(str)

    @property
    def trial_ids(self) -> np.ndarray:
        """``meta/trials/trial_idx``: presentation order, or hashed ids in competition releases.

        Treat these as opaque ids; they are not the file index ``i`` of ``data/*/{i}.npy``.
        """
        return self.trial_info["trial_idx"]

    def tier_indices(self, tier: str) -> np.ndarray:
        """Return the file indices of the trials in ``tier``.

        Parameters
        ----------
        tier
            A tier name of the layout.

        Returns
        -------
        numpy.ndarray
            Sorted int64 indices (possibly empty).
        """
        if tier not in self.layout.tiers:
            raise RecordingError(
                Problem(
                    self.source.where("meta/trials/tiers.npy"),
                    f"unknown tier {tier!r}; a {self.kind} recording has {self.layout.tiers}",
                )
            )
        return np.flatnonzero(self.tiers == tier).astype(np.int64)

    @property
    def tier_counts(self) -> dict[str, int]:
        """Number of trials in each tier present."""
        tiers = self.tiers
        return {t: int((tiers == t).sum()) for t in self.layout.tiers if (tiers == t).any()}

    # ------------------------------------------------------------------ statistics
    @cached_property
    def statistics_fields(self) -> tuple[str, ...]:
        """Fields with statistics in ``meta/statistics/{field}/all/``."""
        return tuple(
            f for f in self.source.listdir("meta/statistics") if statistics_dir(self, f, "all")
        )

    def statistics(
        self, field: str, subset: str = "all", *, check: bool = True
    ) -> dict[str, np.ndarray]:
        """Return the statistics of one field, checked (see :func:`read_statistics`)."""
        return read_statistics(self, field, subset, check=check)

    def statistics_problems(
        self, field: str, stats: Mapping[str, np.ndarray], rel: str | None = None
    ) -> list[Problem]:
        """Check one field's statistics (see :func:`statistics_problems`)."""
        return statistics_problems(self, field, stats, rel)

    # ------------------------------------------------------------------ trials
    @cached_property
    def _first_stimulus(self) -> np.ndarray:
        rel = f"data/{self.layout.stimulus}/0.npy"
        arr = self.source.load(rel, mmap=True)
        problem = self.layout.stimulus_shape_problem(arr.shape)
        if problem is not None:
            raise RecordingError(Problem(self.source.where(rel), problem))
        return arr

    @property
    def stimulus_hw(self) -> tuple[int, int]:
        """Height and width of the stimulus (``(144, 256)`` for the 2022 images)."""
        return self.layout.stimulus_hw(self._first_stimulus.shape)

    @property
    def n_frames(self) -> int:
        """Padded number of frames of every video trial (1 for static recordings)."""
        return self.layout.frames_of(self._first_stimulus.shape)

    def trial_shape(self, field: str) -> tuple[int, ...]:
        """Return the shape every ``data/{field}/{i}.npy`` must have."""
        n_neurons = self.n_neurons if field == "responses" else 0  # only responses need it
        return self.layout.trial_shape(field, n_neurons, self.stimulus_hw, self.n_frames)

    def load(self, field: str, index: int, *, mmap: bool = False) -> np.ndarray:
        """Load one trial's array, checking its shape.

        Parameters
        ----------
        field
            A data folder present in :attr:`fields`.
        index
            The file index ``i`` (``0 <= i < n_trials``).
        mmap
            Memory-map instead of reading (folders only).

        Returns
        -------
        numpy.ndarray
            The array, exactly as stored.

        Raises
        ------
        RecordingError
            When the file is missing, unreadable or has the wrong shape.
        """
        if field not in self.fields:
            raise RecordingError(
                Problem(self.source.where(f"data/{field}"), f"this recording has no {field}")
            )
        if not 0 <= index < self.n_trials:
            raise IndexError(f"trial {index} out of range 0..{self.n_trials - 1}")
        rel = f"data/{field}/{index}.npy"
        expected = self.trial_shape(field)
        # float64 at most, plus the header: anything larger is refused before it is read
        arr = self.source.load(rel, mmap=mmap, max_bytes=int(np.prod(expected)) * 8 + 65536)
        if arr.shape != expected:
            message = f"has shape {arr.shape}, expected {expected}"
            if field == "responses":
                message += " (one row per neuron of meta/neurons/unit_ids.npy)"
            raise RecordingError(Problem(self.source.where(rel), message))
        return arr

    def trial(self, index: int) -> dict[str, np.ndarray]:
        """Return every field of one trial, by field name."""
        return {field: self.load(field, index) for field in self.fields}

    # ------------------------------------------------------------------ checks
    def structure_problems(self) -> list[Problem]:
        """Return every problem found without reading per-trial arrays.

        See :func:`neurotwin.data.structure.structure_problems`.
        """
        return structure_problems(self)


class StaticRecording(Recording):
    """A SENSORIUM 2022 recording: one image and one response vector per trial."""

    @property
    def image_ids(self) -> np.ndarray:
        """``meta/trials/frame_image_id``: the image shown in each trial."""
        if "frame_image_id" not in self.trial_info:
            raise RecordingError(
                Problem(self.source.where("meta/trials/frame_image_id.npy"), "file is missing")
            )
        return self.trial_info["frame_image_id"]


class VideoRecording(Recording):
    """A SENSORIUM 2023 recording: NaN-padded videos and response time series per trial."""

    def trial_length(self, index: int) -> int:
        """Return the true number of frames of one trial (the index of its first NaN frame).

        Parameters
        ----------
        index
            The file index of the trial.

        Returns
        -------
        int
            The length; the padded length when the trial has no NaN frame.
        """
        video = self.load("videos", index, mmap=True)
        return first_nan_frame(np.asarray(video[0, 0, :]))

    @cached_property
    def lengths(self) -> np.ndarray:
        """The true length of every trial (reads one pixel per frame of each video)."""
        return np.array([self.trial_length(i) for i in range(self.n_trials)], dtype=np.int64)


def first_nan_frame(series: np.ndarray) -> int:
    """Return the index of the first NaN along the last axis, or its length when none.

    Parameters
    ----------
    series
        An array whose last axis is time; a frame counts as NaN when any value in it is.

    Returns
    -------
    int
        The true length of the trial.
    """
    flat = np.isnan(series.reshape(-1, series.shape[-1])).any(axis=0)
    hits = np.flatnonzero(flat)
    return int(hits[0]) if hits.size else int(series.shape[-1])


def recording_path(recording: Recording | str | os.PathLike[str]) -> str | os.PathLike[str]:
    """Return where a recording is: its path, whether given a path or an open recording.

    Functions that take "a recording" (``fit``, ``evaluate``, ``make_submission``...) accept
    either; they pass it through this first.

    Parameters
    ----------
    recording
        A recording folder or zip, or a :class:`Recording` opened from one.

    Returns
    -------
    str or os.PathLike
        The folder or zip.

    Raises
    ------
    TypeError
        For anything else (with what was given).
    """
    if isinstance(recording, Recording):
        return recording.location
    if isinstance(recording, str | os.PathLike):
        return recording
    raise TypeError(f"expected a recording path or a Recording, got {type(recording).__name__}")


def open_recording(
    path: str | os.PathLike[str] | Recording,
) -> StaticRecording | VideoRecording:
    """Open a SENSORIUM recording, static or video, from its folder or zip.

    Parameters
    ----------
    path
        The recording folder (holding ``data/`` and ``meta/``) or a zip of it; an open
        recording is returned as it is.

    Returns
    -------
    StaticRecording or VideoRecording
        Chosen by the stimulus folder present (``data/images`` or ``data/videos``).

    Raises
    ------
    RecordingError
        Listing every structural problem, each with the file it concerns.
    """
    if isinstance(path, StaticRecording | VideoRecording):
        return path
    recording = recording_for(open_source(recording_path(path)))
    errors = [p for p in recording.structure_problems() if p.severity == "error"]
    if errors:
        raise RecordingError(errors)
    return recording


def recording_for(source: Source) -> StaticRecording | VideoRecording:
    """Wrap a source in the recording class of its release, without checking it.

    Parameters
    ----------
    source
        The recording's files.

    Returns
    -------
    StaticRecording or VideoRecording
        Chosen by the stimulus folder present.

    Raises
    ------
    RecordingError
        When the source has neither or both of ``data/images`` and ``data/videos``.
    """
    has_images = source.is_dir("data/images")
    has_videos = source.is_dir("data/videos")
    if has_images == has_videos:
        what = (
            "both data/images and data/videos"
            if has_images
            else "neither data/images nor data/videos"
        )
        raise RecordingError(
            Problem(source.where(), f"is not a SENSORIUM recording: it has {what}")
        )
    if has_images:
        return StaticRecording(source, LAYOUTS["static"])
    return VideoRecording(source, LAYOUTS["video"])
