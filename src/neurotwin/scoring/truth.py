"""Ground truth of a track: what a submission is scored against.

A ground-truth file (``.npz``, format ``neurotwin-truth`` version 1) holds, for every mouse
(recording) of the track and every scored tier: the trial ids, the stimulus ids, the
standardised responses (static ``(n_trials, n_neurons)``; video the scored frames
``(n_trials, n_neurons, 250)`` NaN-padded, with ``n_frames`` per trial), optionally the
simulator's noiseless rates in the same unit, and the out-of-domain class of bonus trials.
A JSON ``header`` names the format, its version, the track and its version, the release kind,
the normalisation and the mice. Members are ``m{k}.unit_ids`` and ``m{k}.{tier}.{array}``.
Files are written atomically and validated on read.

Ground truth can be cut from a full recording whose scored tiers hold their responses, or
from a recording plus the simulator's ``{name}.truth/`` folder (``responses.npy`` with the
withheld responses, ``rates.npy`` with the noiseless rates).
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin.data.normalize import response_scale
from neurotwin.data.problems import Problem
from neurotwin.data.recording import Recording, VideoRecording, first_nan_frame, open_recording
from neurotwin.scoring.errors import ProblemList, TruthError
from neurotwin.scoring.metrics import SKIP_FRAMES, STOP_FRAME, scored_frames
from neurotwin.scoring.normalize import standardize
from neurotwin.scoring.tracks import Track, get_track

FORMAT = "neurotwin-truth"
#: Suffix of the simulator's ground-truth folder beside a recording (``{name}.truth/``).
TRUTH_SUFFIX = ".truth"
FORMAT_VERSION = 1
#: Per-trial arrays that name the stimulus, tried in this order.
STIMULUS_ID_FIELDS = ("frame_image_id", "stimulus_id", "video_id", "video_ids", "condition_hash")


@dataclass
class TierTruth:
    """Ground truth of one scored tier of one mouse.

    Attributes
    ----------
    trial_ids
        ``(n_trials,)`` str: ``meta/trials/trial_idx`` values, the ids submissions use.
    stimulus_ids
        ``(n_trials,)`` str: the image (``frame_image_id``) or video shown.
    responses
        Standardised responses: static ``(n_trials, n_neurons)``; video the scored frames
        ``(n_trials, n_neurons, F)``, NaN past ``n_frames``. float32.
    n_frames
        Video: ``(n_trials,)`` scored frames per trial. None for static tiers.
    lengths
        Video: ``(n_trials,)`` true trial lengths. None for static tiers.
    rates
        The simulator's noiseless rates, same shape and unit as ``responses``, or None.
    ood_class
        Bonus tiers: ``(n_trials,)`` str out-of-domain class of each trial, or None.
    file_indices
        ``(n_trials,)`` int64 file index of each trial (``data/*/N.npy``), the trial id of
        the 2023 kit's submissions; None in ground-truth files cut before it was kept.
    rates_stimulus_only
        Static simulated tiers: the noiseless rates with behaviour and eye position at their
        means (what a model that sees only the images can reach), or None.
    """

    trial_ids: np.ndarray
    stimulus_ids: np.ndarray
    responses: np.ndarray
    n_frames: np.ndarray | None = None
    lengths: np.ndarray | None = None
    rates: np.ndarray | None = None
    ood_class: np.ndarray | None = None
    file_indices: np.ndarray | None = None
    rates_stimulus_only: np.ndarray | None = None

    @property
    def n_trials(self) -> int:
        """Number of trials."""
        return len(self.trial_ids)


@dataclass
class MouseTruth:
    """Ground truth of one mouse (recording).

    Attributes
    ----------
    name
        The recording's folder name (the ``mouse`` column of 2023 submissions).
    unit_ids
        ``(n_neurons,)`` int64, in the order of the response arrays.
    tiers
        Ground truth per scored tier.
    """

    name: str
    unit_ids: np.ndarray
    tiers: dict[str, TierTruth] = field(default_factory=dict)


@dataclass
class Truth:
    """Ground truth of a track.

    Attributes
    ----------
    track
        The track identifier.
    track_version
        The track's version when the truth was cut.
    kind
        ``"static"`` or ``"video"``.
    mice
        One entry per recording.
    normalisation
        ``"per_neuron"`` (the benchmark) or ``"per_frame"`` (2023 compatibility).
    notes
        Why a scored tier is absent (no trials, responses withheld), one line each.
    """

    track: str
    track_version: str
    kind: str
    mice: list[MouseTruth]
    normalisation: str = "per_neuron"
    notes: list[str] = field(default_factory=list)

    def mouse(self, name: str) -> MouseTruth | None:
        """Return the mouse of that recording name, or None."""
        return next((m for m in self.mice if m.name == name), None)

    @property
    def has_rates(self) -> bool:
        """Whether every tier carries the simulator's noiseless rates."""
        return all(t.rates is not None for m in self.mice for t in m.tiers.values())

    def n_values(self, tier: str) -> int:
        """Return the number of values a full submission of ``tier`` holds (video: T-50 each)."""
        total = 0
        for m in self.mice:
            t = m.tiers.get(tier)
            if t is None:
                continue
            if t.lengths is None:
                total += t.n_trials * len(m.unit_ids)
            else:
                total += int(np.maximum(t.lengths - SKIP_FRAMES, 1).sum()) * len(m.unit_ids)
        return total


# ---------------------------------------------------------------------- writing and reading
def save_truth(truth: Truth, path: str | os.PathLike[str]) -> Path:
    """Write a ground-truth file atomically.

    Parameters
    ----------
    truth
        The ground truth.
    path
        Destination (``.npz`` is conventional).

    Returns
    -------
    pathlib.Path
        The file written.
    """
    path = Path(path)
    header = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "track": truth.track,
        "track_version": truth.track_version,
        "kind": truth.kind,
        "normalisation": truth.normalisation,
        "mice": [{"name": m.name, "tiers": list(m.tiers)} for m in truth.mice],
        "notes": list(truth.notes),
    }
    arrays: dict[str, np.ndarray] = {"header": np.array(json.dumps(header))}
    for k, mouse in enumerate(truth.mice):
        arrays[f"m{k}.unit_ids"] = np.asarray(mouse.unit_ids, dtype=np.int64)
        for tier, t in mouse.tiers.items():
            pre = f"m{k}.{tier}."
            arrays[pre + "trial_ids"] = np.asarray(t.trial_ids).astype(str)
            arrays[pre + "stimulus_ids"] = np.asarray(t.stimulus_ids).astype(str)
            arrays[pre + "responses"] = np.asarray(t.responses, dtype=np.float32)
            for name in ("n_frames", "lengths"):
                value = getattr(t, name)
                if value is not None:
                    arrays[pre + name] = np.asarray(value, dtype=np.int64)
            if t.rates is not None:
                arrays[pre + "rates"] = np.asarray(t.rates, dtype=np.float32)
            if t.ood_class is not None:
                arrays[pre + "ood_class"] = np.asarray(t.ood_class).astype(str)
            if t.file_indices is not None:
                arrays[pre + "file_indices"] = np.asarray(t.file_indices, dtype=np.int64)
            if t.rates_stimulus_only is not None:
                arrays[pre + "rates_stimulus_only"] = np.asarray(
                    t.rates_stimulus_only, dtype=np.float32
                )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, allow_pickle=False, **arrays)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_truth(path: str | os.PathLike[str]) -> Truth:
    """Read and validate a ground-truth file written by :func:`save_truth`.

    Parameters
    ----------
    path
        The ``.npz`` file.

    Returns
    -------
    Truth
        The ground truth.

    Raises
    ------
    TruthError
        Listing every problem: not a truth file, an unknown version, missing arrays or
        arrays whose shapes disagree.
    """
    where = str(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise TruthError(_problem(where, f"is not a ground-truth file ({exc})")) from exc
    if "header" not in arrays:
        raise TruthError(_problem(where, f"has no header: not a {FORMAT} file"))
    try:
        header = json.loads(str(arrays["header"]))
    except json.JSONDecodeError as exc:
        raise TruthError(_problem(where, f"header is not JSON ({exc})")) from exc
    if header.get("format") != FORMAT:
        raise TruthError(_problem(where, f"format is {header.get('format')!r}, not {FORMAT!r}"))
    if header.get("version") != FORMAT_VERSION:
        raise TruthError(
            _problem(
                where,
                f"format version {header.get('version')!r} is not supported "
                f"(this neurotwin reads version {FORMAT_VERSION})",
            )
        )
    problems = ProblemList()
    mice = []
    for k, entry in enumerate(header.get("mice", [])):
        unit_ids = arrays.get(f"m{k}.unit_ids")
        if unit_ids is None:
            problems.add(f"{where}!m{k}.unit_ids", "is missing")
            continue
        mouse = MouseTruth(str(entry["name"]), unit_ids.astype(np.int64))
        for tier in entry.get("tiers", []):
            pre = f"m{k}.{tier}."
            got = {
                name: arrays.get(pre + name)
                for name in (
                    "trial_ids",
                    "stimulus_ids",
                    "responses",
                    "n_frames",
                    "lengths",
                    "rates",
                    "ood_class",
                    "file_indices",
                    "rates_stimulus_only",
                )
            }
            t = _tier_from_arrays(got, header["kind"], len(unit_ids), f"{where}!{pre}", problems)
            if t is not None:
                mouse.tiers[tier] = t
        mice.append(mouse)
    if not mice:
        problems.add(where, "holds no mouse")
    problems.raise_if_any(TruthError)
    return Truth(
        track=str(header["track"]),
        track_version=str(header["track_version"]),
        kind=str(header["kind"]),
        mice=mice,
        normalisation=str(header.get("normalisation", "per_neuron")),
        notes=[str(n) for n in header.get("notes", [])],
    )


def _tier_from_arrays(
    got: dict[str, Any], kind: str, n_neurons: int, where: str, problems: ProblemList
) -> TierTruth | None:
    """Check one tier's arrays and build it, or record what is wrong."""
    for name in ("trial_ids", "stimulus_ids", "responses"):
        if got[name] is None:
            problems.add(where + name, "is missing")
    if kind == "video" and (got["n_frames"] is None or got["lengths"] is None):
        problems.add(where + "n_frames", "video ground truth needs n_frames and lengths")
        return None
    if any(got[n] is None for n in ("trial_ids", "stimulus_ids", "responses")):
        return None
    n = len(got["trial_ids"])
    resp = got["responses"]
    expected_ndim = 3 if kind == "video" else 2
    if resp.ndim != expected_ndim or resp.shape[:2] != (n, n_neurons):
        problems.add(
            where + "responses",
            f"has shape {resp.shape}, expected ({n}, {n_neurons}"
            + (", frames)" if kind == "video" else ")"),
        )
        return None
    for name in ("stimulus_ids", "n_frames", "lengths", "ood_class", "file_indices"):
        if got[name] is not None and len(got[name]) != n:
            problems.add(where + name, f"has {len(got[name])} rows, expected {n}")
    for name in ("rates", "rates_stimulus_only"):
        if got[name] is not None and got[name].shape != resp.shape:
            problems.add(where + name, f"has shape {got[name].shape}, expected {resp.shape}")
    if not problems.items:
        _check_finite_truth(resp, got["n_frames"], where + "responses", problems)
    if len(np.unique(got["trial_ids"])) != n:
        problems.add(where + "trial_ids", "are not unique")
    return TierTruth(
        trial_ids=got["trial_ids"].astype(str),
        stimulus_ids=got["stimulus_ids"].astype(str),
        responses=resp,
        n_frames=got["n_frames"],
        lengths=got["lengths"],
        rates=got["rates"],
        ood_class=None if got["ood_class"] is None else got["ood_class"].astype(str),
        file_indices=got["file_indices"],
        rates_stimulus_only=got["rates_stimulus_only"],
    )


def _check_finite_truth(
    values: np.ndarray, n_frames: np.ndarray | None, where: str, problems: ProblemList
) -> None:
    """Record a problem when ground-truth values are not finite where they are scored."""
    if n_frames is None:
        bad = ~np.isfinite(values)
    else:
        inside = np.arange(values.shape[2])[None, None, :] < np.asarray(n_frames)[:, None, None]
        bad = inside & ~np.isfinite(values)
    if bad.any():
        trials, neurons = np.nonzero(bad.reshape(bad.shape[0], bad.shape[1], -1).any(axis=2))
        frames = "" if n_frames is None else f", frame {int(np.nonzero(bad)[2][0]) + SKIP_FRAMES}"
        problems.add(
            where,
            f"{int(bad.sum())} value(s) are NaN or infinite inside the scored window (first: "
            f"trial {int(trials[0])}, neuron {int(neurons[0])}{frames}); every score would be "
            "wrong",
        )


def _problem(where: str, message: str) -> Problem:
    return Problem(where, message)


# ---------------------------------------------------------------------- cutting ground truth
@dataclass
class SimulatorTruth:
    """The simulator's withheld ground truth of one recording (``{name}.truth/``).

    Attributes
    ----------
    path
        The folder.
    rates
        Noiseless expected responses, raw units, rows in file-index order.
    responses
        Full noisy responses (withheld ones included), same shape.
    rates_stimulus_only
        Static recordings: the noiseless rates with behaviour and eye position at their
        means (``rates_stimulus_only.npy``); None for video and for folders written before
        the simulator kept them.
    """

    path: Path
    rates: np.ndarray
    responses: np.ndarray
    rates_stimulus_only: np.ndarray | None = None

    @classmethod
    def open(cls, path: str | os.PathLike[str], recording: Recording) -> SimulatorTruth:
        """Open a simulator truth folder and check it matches ``recording``.

        Parameters
        ----------
        path
            The ``{recording_name}.truth/`` folder.
        recording
            The recording it belongs to.

        Returns
        -------
        SimulatorTruth
            Its arrays, memory-mapped.

        Raises
        ------
        TruthError
            When a file is missing or disagrees with the recording.
        """
        path = Path(path)
        problems = ProblemList()
        arrays: dict[str, np.ndarray] = {}
        for name in ("rates", "responses", "trial_idx", "unit_ids"):
            f = path / f"{name}.npy"
            if not f.is_file():
                problems.add(str(f), "file is missing")
                continue
            arrays[name] = np.load(f, mmap_mode="r", allow_pickle=False)
        problems.raise_if_any(TruthError)
        n, nn = recording.n_trials, recording.n_neurons
        for name in ("rates", "responses"):
            if arrays[name].shape[:2] != (n, nn):
                problems.add(
                    str(path / f"{name}.npy"),
                    f"has shape {arrays[name].shape}, expected ({n}, {nn}, ...) like "
                    f"{recording.name}",
                )
        if not np.array_equal(
            np.asarray(arrays["trial_idx"]).astype(str), recording.trial_ids.astype(str)
        ):
            problems.add(
                str(path / "trial_idx.npy"), f"differs from {recording.name}'s meta/trials"
            )
        if not np.array_equal(np.asarray(arrays["unit_ids"]), recording.unit_ids):
            problems.add(str(path / "unit_ids.npy"), f"differs from {recording.name}'s unit_ids")
        optional = path / "rates_stimulus_only.npy"
        stimulus_only = None
        if optional.is_file():
            stimulus_only = np.load(optional, mmap_mode="r", allow_pickle=False)
            if stimulus_only.shape != arrays["rates"].shape:
                problems.add(
                    str(optional),
                    f"has shape {stimulus_only.shape}, expected {arrays['rates'].shape}",
                )
        problems.raise_if_any(TruthError)
        return cls(path, arrays["rates"], arrays["responses"], stimulus_only)


def simulator_truth_path(recording: Recording) -> Path | None:
    """Return the simulator's ``{name}.truth/`` folder beside a recording folder, if any."""
    location = Path(recording.location)
    candidate = location.parent / f"{recording.name}{TRUTH_SUFFIX}"
    return candidate if candidate.is_dir() else None


def stimulus_ids(recording: Recording) -> np.ndarray:
    """Return the stimulus shown in each trial, as str (trial ids when none is recorded)."""
    for name in STIMULUS_ID_FIELDS:
        if name in recording.trial_info:
            return np.asarray(recording.trial_info[name]).astype(str)
    return recording.trial_ids.astype(str)


def _scored_window(trace: np.ndarray, length: int, width: int) -> np.ndarray:
    """Cut frames 50..min(length, 300) of ``(n_neurons, T)`` into a NaN-padded width."""
    out = np.full((trace.shape[0], width), np.nan, dtype=np.float32)
    stop = min(length, STOP_FRAME)
    if stop > SKIP_FRAMES:
        out[:, : stop - SKIP_FRAMES] = trace[:, SKIP_FRAMES:stop]
    return out


def tier_truth(
    recording: Recording,
    tier: str,
    *,
    simulator: SimulatorTruth | None = None,
    per_frame: bool = False,
) -> TierTruth:
    """Cut one tier's ground truth from a recording (and the simulator's truth).

    Parameters
    ----------
    recording
        The recording; its statistics define the standardised unit.
    tier
        The scored tier.
    simulator
        The simulator's truth: responses come from it (they are withheld in the recording)
        and its rates give the exact ceiling.
    per_frame
        Video: normalise per frame (2023 compatibility) instead of per neuron.

    Returns
    -------
    TierTruth
        The tier's ground truth.

    Raises
    ------
    TruthError
        When the tier is empty or its responses are withheld (all zeros) and no simulator
        truth is given.
    """
    where = f"{recording.location} tier {tier!r}"
    idx = recording.tier_indices(tier)
    if idx.size == 0:
        raise TruthError(_problem(where, "has no trials"))
    scale = response_scale(recording.statistics("responses"), per_frame=per_frame)
    ood = recording.trial_info.get("ood_class")
    common = {
        "trial_ids": recording.trial_ids[idx].astype(str),
        "stimulus_ids": stimulus_ids(recording)[idx],
        "ood_class": None if ood is None else np.asarray(ood)[idx].astype(str),
        "file_indices": np.asarray(idx, dtype=np.int64),
    }
    stats = f"{recording.location}/meta/statistics/responses"

    def raw(i: int) -> np.ndarray:
        if simulator is not None:
            return np.asarray(simulator.responses[i])
        return np.asarray(recording.load("responses", i), dtype=np.float32)

    if not isinstance(recording, VideoRecording):
        responses = standardize(np.stack([raw(int(i)) for i in idx]), scale)
        rates = (
            None
            if simulator is None
            else standardize(np.asarray(simulator.rates[idx], dtype=np.float32), scale)
        )
        if simulator is None and not np.any(responses):
            raise TruthError(
                _problem(where, "responses are all zeros (withheld); give the ground truth")
            )
        only = simulator.rates_stimulus_only if simulator is not None else None
        stimulus_only = (
            None if only is None else standardize(np.asarray(only[idx], dtype=np.float32), scale)
        )
        _raise_if_not_finite(responses, None, where, stats)
        return TierTruth(
            responses=responses, rates=rates, rates_stimulus_only=stimulus_only, **common
        )

    lengths = np.array([recording.trial_length(int(i)) for i in idx], dtype=np.int64)
    if simulator is not None:
        # the simulator's responses are NaN-padded exactly like the recording's arrays
        lengths = np.array(
            [min(int(lengths[k]), first_nan_frame(raw(int(i)))) for k, i in enumerate(idx)]
        )
    n_frames = scored_frames(lengths)
    width = STOP_FRAME - SKIP_FRAMES
    responses = np.stack(
        [
            _scored_window(standardize(raw(int(i)), scale, video=True), int(n), width)
            for i, n in zip(idx, lengths, strict=True)
        ]
    )
    rates = None
    if simulator is not None:
        rates = np.stack(
            [
                _scored_window(
                    standardize(np.asarray(simulator.rates[int(i)]), scale, video=True),
                    int(n),
                    width,
                )
                for i, n in zip(idx, lengths, strict=True)
            ]
        )
    if simulator is None and not np.any(np.nan_to_num(responses)):
        raise TruthError(
            _problem(where, "responses are all zeros (withheld); give the ground truth")
        )
    _raise_if_not_finite(responses, n_frames, where, stats)
    return TierTruth(responses=responses, rates=rates, n_frames=n_frames, lengths=lengths, **common)


def _raise_if_not_finite(
    responses: np.ndarray, n_frames: np.ndarray | None, where: str, stats: str
) -> None:
    """Refuse standardised responses that are NaN or infinite where they are scored."""
    problems = ProblemList()
    _check_finite_truth(responses, n_frames, where, problems)
    if len(problems):
        message = problems.items[0].message.replace(
            "every score would be wrong",
            f"the responses or the statistics in {stats} (mean/std, per frame with "
            "--per-frame) hold NaN, infinite or zero values there",
        )
        raise TruthError(_problem(where, message))


def make_truth(
    track: str | Track,
    recordings: Sequence[str | os.PathLike[str] | Recording],
    *,
    simulator: Sequence[str | os.PathLike[str] | None] | None = None,
    per_frame: bool = False,
    find_simulator: bool = True,
) -> Truth:
    """Cut a track's ground truth from recordings.

    Parameters
    ----------
    track
        The track (or its identifier).
    recordings
        The scored recordings (one for the static tracks, one per mouse for video).
    simulator
        The simulator's ``{name}.truth/`` folder of each recording (None entries allowed).
    per_frame
        Video: normalise per frame (2023 compatibility option).
    find_simulator
        Use a ``{name}.truth/`` folder found beside a recording folder when ``simulator``
        does not name one.

    Returns
    -------
    Truth
        The ground truth of the scored tiers that hold responses; a tier without trials or
        with withheld responses is left out with a note in :attr:`Truth.notes`.

    Raises
    ------
    TruthError
        When no scored tier of a recording can be cut (each reason listed), or when the
        recordings do not fit the track.
    """
    track = get_track(track)
    recs = [r if isinstance(r, Recording) else open_recording(r) for r in recordings]
    sims = list(simulator) if simulator is not None else [None] * len(recs)
    if len(sims) != len(recs):
        raise TruthError(_problem("simulator", f"{len(sims)} folders for {len(recs)} recordings"))
    if track.kind == "static" and len(recs) != 1:
        raise TruthError(_problem("recordings", f"track {track.identifier} scores one recording"))
    mice = []
    notes: list[str] = []
    for rec, sim_path in zip(recs, sims, strict=True):
        if rec.kind != track.kind:
            raise TruthError(
                _problem(
                    rec.location,
                    f"is a {rec.kind} recording; track {track.identifier} "
                    f"scores {track.kind} recordings",
                )
            )
        if sim_path is None and find_simulator:
            sim_path = simulator_truth_path(rec)
        sim = None if sim_path is None else SimulatorTruth.open(sim_path, rec)
        mouse = MouseTruth(rec.name, np.asarray(rec.unit_ids, dtype=np.int64))
        absent: list[Problem] = []
        for phase in ("live", "final"):
            tier = track.tier(phase)
            try:
                mouse.tiers[tier] = tier_truth(rec, tier, simulator=sim, per_frame=per_frame)
            except TruthError as exc:
                if not all(_is_absence(p.message) for p in exc.problems):
                    raise
                absent += exc.problems
        if not mouse.tiers:
            raise TruthError(absent)
        notes += [f"{p.where}: {p.message}; phase not scored" for p in absent]
        mice.append(mouse)
    return Truth(
        track=track.identifier,
        track_version=track.version,
        kind=track.kind,
        mice=mice,
        normalisation="per_frame" if per_frame else "per_neuron",
        notes=notes,
    )


def _is_absence(message: str) -> bool:
    """Whether a tier's problem only says that it holds nothing to score."""
    return message == "has no trials" or message.startswith("responses are all zeros")
