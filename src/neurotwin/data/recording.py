"""Lazy, read-only views of one SENSORIUM recording (static 2022 or video 2023).

Opening a recording reads only its metadata listing; per-trial arrays are read when asked
for. Structural problems (missing folders, trial counts that disagree, metadata of the wrong
length) are found at open time and reported together in one :class:`RecordingError`.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from functools import cached_property

import numpy as np

from neurotwin.data.layout import LAYOUTS, STATISTIC_NAMES, Layout
from neurotwin.data.problems import RecordingError
from neurotwin.data.source import Source, open_source
from neurotwin.errors import quote_untrusted
from neurotwin.problems import Problem

_NAME = re.compile(r"^(?:static|dynamic)(\d+)-(\d+)-(\d+)-")
_TRIAL_FILE = re.compile(r"^(\d+)\.npy$")
#: The second statistics subfolder, spelled both ways in the wild.
_STIMULUS_FRAME = ("stimulus_frame", "stimulus_Frame")


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
        return len(self._trial_files(self.layout.stimulus)[0])

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
        return tuple(f for f in self.source.listdir("meta/statistics") if self._stats_dir(f, "all"))

    def _stats_dir(self, field: str, subset: str) -> str | None:
        names = _STIMULUS_FRAME if subset in _STIMULUS_FRAME else (subset,)
        for name in names:
            rel = f"meta/statistics/{field}/{name}"
            if self.source.is_dir(rel):
                return rel
        return None

    def statistics(
        self, field: str, subset: str = "all", *, check: bool = True
    ) -> dict[str, np.ndarray]:
        """Return the statistics of one field, checked before anything divides by them.

        Parameters
        ----------
        field
            ``images``/``videos``, ``responses``, ``behavior`` or ``pupil_center``.
        subset
            ``"all"`` (what normalisation uses) or ``"stimulus_frame"`` (either spelling).
        check
            Refuse statistics that :meth:`statistics_problems` finds wrong (the default;
            the cache, training, the scorer's truth and ``validate`` all rely on it).

        Returns
        -------
        dict
            ``mean``, ``std``, ``min``, ``max``, ``median`` (those present), as float64 arrays.

        Raises
        ------
        RecordingError
            When the statistics are missing, not numbers, or (with ``check``) of the wrong
            shape, NaN or infinite, negative, or zero where they divide.
        """
        rel = self._stats_dir(field, subset)
        if rel is None:
            raise RecordingError(
                Problem(
                    self.source.where(f"meta/statistics/{field}/{subset}"),
                    "statistics are missing; they are needed to normalise this field",
                )
            )
        out = {}
        for stat in STATISTIC_NAMES:
            if self.source.is_file(f"{rel}/{stat}.npy"):
                arr = self.source.load(f"{rel}/{stat}.npy")
                if arr.dtype.kind not in "iuf":  # strings, booleans, complex, dates...
                    raise RecordingError(
                        Problem(
                            self.source.where(f"{rel}/{stat}.npy"),
                            f"has dtype {arr.dtype}, expected real numbers",
                        )
                    )
                out[stat] = np.asarray(arr, dtype=np.float64)
        if "mean" not in out or "std" not in out:
            raise RecordingError(
                Problem(self.source.where(rel), "needs at least mean.npy and std.npy")
            )
        if check:
            errors = [p for p in self.statistics_problems(field, out, rel) if p.severity == "error"]
            if errors:
                raise RecordingError(errors)
        return out

    def statistics_problems(
        self, field: str, stats: Mapping[str, np.ndarray], rel: str | None = None
    ) -> list[Problem]:
        """Check one field's statistics: the one set of checks used wherever they are used.

        The mean and std must have one row per feature (neurons, behaviour channels, the
        two pupil coordinates; stimulus statistics may be scalar or carry pixel or frame
        axes, responses and behaviour a trailing time axis), be finite once reduced to one
        value per feature, hold no negative std, and be non-zero where they divide: the
        stimulus std, and the mean response std (each neuron is divided by its std floored
        at 1% of that mean, so single silent neurons are fine). A behaviour or pupil channel
        whose std is zero is left unscaled (documented in ``docs/data.md``).

        Parameters
        ----------
        field
            The field the statistics belong to.
        stats
            Its statistics, as :meth:`statistics` reads them (``check=False``).
        rel
            Their folder, for messages (default ``meta/statistics/{field}/all``).

        Returns
        -------
        list of Problem
            Errors naming ``std.npy`` or ``mean.npy``; empty when the statistics are sound.
        """
        from neurotwin.data.normalize import collapse_statistics

        rel = rel or f"meta/statistics/{field}/all"
        layout = self.layout
        widths = {"responses": self.n_neurons, "behavior": layout.behavior_channels}
        width = widths.get(field, 2 if field == "pupil_center" else None)
        expected = "a scalar" if width is None else f"({width},)"
        problems = []
        arrays = {name: np.asarray(stats[name], dtype=np.float64) for name in ("mean", "std")}
        for name, arr in arrays.items():
            if width is None:
                ok = True  # stimulus statistics may be scalar or carry pixel/time axes
            else:
                ok = arr.ndim in (1, 2) and arr.shape[0] == width
            if not ok:
                problems.append(
                    Problem(
                        self.source.where(f"{rel}/{name}.npy"),
                        f"has shape {arr.shape}, expected {expected} (a trailing time axis is "
                        "accepted)",
                    )
                )
        if problems:
            return problems
        mean, std = arrays["mean"], arrays["std"]
        for name, arr in arrays.items():
            if arr.size == 0:
                problems.append(Problem(self.source.where(f"{rel}/{name}.npy"), "is empty"))
        if problems:
            return problems
        if (width is None and mean.size not in (1, std.size)) or (
            width is not None and std.ndim == 1 and mean.shape != std.shape
        ):
            return [
                Problem(
                    self.source.where(f"{rel}/mean.npy"),
                    f"has shape {mean.shape} but std.npy has {std.shape}",
                )
            ]
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: caught below
            reduced_mean, reduced_std = collapse_statistics(mean, std, width)
        where_std = self.source.where(f"{rel}/std.npy")
        if not np.isfinite(reduced_std).all() or (reduced_std < 0).any():
            bad = int(np.sum(~np.isfinite(reduced_std) | (reduced_std < 0)))
            problems.append(
                Problem(where_std, f"holds negative, NaN or infinite values ({bad} of them)")
            )
        elif not np.isfinite(reduced_mean).all():
            problems.append(
                Problem(self.source.where(f"{rel}/mean.npy"), "holds NaN or infinite values")
            )
        elif field == layout.stimulus and not (reduced_std > 0).all():
            problems.append(Problem(where_std, "is zero: the stimulus cannot be normalised by it"))
        elif field == "responses" and not float(np.mean(reduced_std)) > 0:
            problems.append(
                Problem(
                    where_std,
                    "is zero for every neuron: responses cannot be scaled (a ground truth "
                    "made from it would be NaN)",
                )
            )
        return problems

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
    def _trial_files(self, field: str) -> tuple[list[str], list[Problem]]:
        """List ``data/{field}``'s trial files and whatever is wrong with their names."""
        rel = f"data/{field}"
        names = self.source.listdir(rel)
        numbers, problems = [], []
        for n in names:
            match = _TRIAL_FILE.match(n)
            if match:
                numbers.append(int(match.group(1)))
            else:
                problems.append(
                    Problem(self.source.where(f"{rel}/{n}"), "unexpected file", "warning")
                )
        numbers.sort()
        if numbers != list(range(len(numbers))):
            missing = sorted(set(range(max(numbers, default=-1) + 1)) - set(numbers))
            shown = ", ".join(f"{m}.npy" for m in missing[:5])
            problems.append(
                Problem(
                    self.source.where(rel),
                    f"trial files must be numbered 0..n-1; missing {shown}"
                    + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""),
                )
            )
        return [f"{i}.npy" for i in numbers], problems

    def structure_problems(self) -> list[Problem]:
        """Return every problem that can be found without reading per-trial arrays.

        Returns
        -------
        list of Problem
            Errors (the recording cannot be used) and warnings, each naming its file.
        """
        src = self.source
        refused = src.refused_entries()
        problems: list[Problem] = [
            Problem(src.where(rel), why) for rel, why in refused.items() if "/" not in rel
        ]
        for top in ("data", "meta"):
            if not src.is_dir(top) and top not in refused:
                problems.append(Problem(src.where(top), "folder is missing"))
        if problems:
            return problems
        counts: dict[str, int] = {}
        for field in self.layout.fields:
            if not src.is_dir(f"data/{field}"):
                if field in self.layout.required_fields:
                    problems.append(Problem(src.where(f"data/{field}"), "folder is missing"))
                continue
            files, field_problems = self._trial_files(field)
            problems.extend(field_problems)
            counts[field] = len(files)
        if counts:
            reference = (
                self.layout.stimulus if self.layout.stimulus in counts else next(iter(counts))
            )
            for field, count in counts.items():
                if count != counts[reference]:
                    problems.append(
                        Problem(
                            src.where(f"data/{field}"),
                            f"holds {count} trials but data/{reference} holds {counts[reference]}",
                        )
                    )
            if counts.get(self.layout.stimulus, 0) == 0 and self.layout.stimulus in counts:
                problems.append(Problem(src.where(f"data/{self.layout.stimulus}"), "is empty"))
        problems.extend(self._check_meta(counts.get(self.layout.stimulus)))
        return problems

    def _check_meta(self, n_trials: int | None) -> list[Problem]:
        src = self.source
        problems: list[Problem] = []
        for rel in ("meta/neurons/unit_ids.npy", "meta/trials/tiers.npy"):
            if not src.is_file(rel):
                problems.append(Problem(src.where(rel), "file is missing"))
        if problems:
            return problems
        try:
            neurons = self.neurons
            trial_info = self.trial_info
            n_neurons = self.n_neurons
        except RecordingError as exc:
            return exc.problems
        for stem, arr in neurons.items():
            rel = f"meta/neurons/{stem}.npy"
            if arr.ndim == 0 or arr.shape[0] != n_neurons:
                problems.append(
                    Problem(
                        src.where(rel),
                        f"has shape {arr.shape}, expected {n_neurons} rows like "
                        "meta/neurons/unit_ids.npy",
                    )
                )
        if not problems and len(np.unique(neurons["unit_ids"])) != n_neurons:
            problems.append(Problem(src.where("meta/neurons/unit_ids.npy"), "ids are not unique"))
        coords = neurons.get("cell_motor_coordinates")
        if coords is not None and (coords.ndim != 2 or coords.shape[1] != 3):
            problems.append(
                Problem(
                    src.where("meta/neurons/cell_motor_coordinates.npy"),
                    f"has shape {coords.shape}, expected ({n_neurons}, 3)",
                )
            )
        n_before = len(problems)
        for stem, arr in trial_info.items():
            rel = f"meta/trials/{stem}.npy"
            if n_trials is not None and (arr.ndim == 0 or arr.shape[0] != n_trials):
                problems.append(
                    Problem(
                        src.where(rel),
                        f"has shape {arr.shape}, expected {n_trials} rows like the trial files "
                        f"in data/{self.layout.stimulus}",
                    )
                )
        if len(problems) > n_before:  # shapes are wrong: the checks below would repeat that
            return problems
        unknown = sorted(set(trial_info["tiers"].astype(str).tolist()) - set(self.layout.tiers))
        if unknown:
            shown = ", ".join(quote_untrusted(t, 30) for t in unknown[:5])
            problems.append(
                Problem(
                    src.where("meta/trials/tiers.npy"),
                    f"unknown tier(s) {shown}; a {self.kind} recording uses {self.layout.tiers}",
                )
            )
        if "trial_idx" not in trial_info:
            problems.append(
                Problem(src.where("meta/trials/trial_idx.npy"), "file is missing", "warning")
            )
        elif len(np.unique(trial_info["trial_idx"])) != len(trial_info["trial_idx"]):
            problems.append(
                Problem(src.where("meta/trials/trial_idx.npy"), "ids are not unique", "warning")
            )
        if not self.source.is_dir("meta/statistics"):
            problems.append(
                Problem(
                    src.where("meta/statistics"),
                    "folder is missing: the recording cannot be normalised",
                    "warning",
                )
            )
        return problems


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
