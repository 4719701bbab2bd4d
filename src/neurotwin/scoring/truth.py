"""Ground truth of a track: what a submission is scored against.

A ground-truth file (``.npz``, format ``neurotwin-truth`` version 1, written and read by
:mod:`neurotwin.scoring.truth_file`) holds, for every mouse (recording) of the track and
every scored tier: the trial ids, the stimulus ids, the standardised responses (static
``(n_trials, n_neurons)``; video the scored frames ``(n_trials, n_neurons, 250)`` NaN-
padded, with ``n_frames`` per trial), optionally the simulator's noiseless rates in the same
unit, and the out-of-domain class of bonus trials. A JSON ``header`` names the format, its
version, the track and its version, the release kind, the normalisation and the mice.
Members are ``m{k}.unit_ids`` and ``m{k}.{tier}.{array}``.
Files are written atomically and validated on read.

Ground truth can be cut from a full recording whose scored tiers hold their responses, or
from a recording plus the simulator's ``{name}.truth/`` folder (``responses.npy`` with the
withheld responses, ``rates.npy`` with the noiseless rates).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from neurotwin.data.normalize import response_scale
from neurotwin.data.recording import Recording, VideoRecording, first_nan_frame, open_recording
from neurotwin.problems import Problem
from neurotwin.scoring.errors import ProblemList, TruthError
from neurotwin.scoring.metrics import SKIP_FRAMES, STOP_FRAME, scored_frames
from neurotwin.scoring.normalize import standardize
from neurotwin.scoring.simulator_truth import SimulatorTruth, simulator_truth_path
from neurotwin.scoring.tracks import Track, get_track

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

    if simulator is not None:
        _check_simulator_matches(recording, idx, simulator, tier)

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


def _check_simulator_matches(
    recording: Recording, idx: np.ndarray, simulator: SimulatorTruth, tier: str
) -> None:
    """Refuse a simulator truth whose responses differ from the recording's own.

    A tier the release withholds (all zeros) is not compared; any other trial must hold
    exactly the simulator's responses (video: over the frames the recording holds), or the
    recording was edited after it was simulated and its truth folder no longer describes it.
    """
    for i in idx:
        own = np.asarray(recording.load("responses", int(i)), dtype=np.float32)
        if not np.any(np.nan_to_num(own)):
            continue
        sim = np.asarray(simulator.responses[int(i)], dtype=np.float32)
        if sim.ndim == 2 and own.ndim == 2:
            sim = sim[:, : own.shape[1]]
        if sim.shape != own.shape or not np.array_equal(sim, own, equal_nan=True):
            raise TruthError(
                _problem(
                    recording.source.where(f"data/responses/{int(i)}.npy"),
                    f"(tier {tier!r}) differs from the simulator's responses in "
                    f"{simulator.path}: the recording was changed after it was simulated; "
                    "score it without that folder beside it, or simulate it again",
                )
            )


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
    if track.format.one_recording and len(recs) != 1:
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
        if sim is not None:
            notes.append(
                f"{rec.name}: ground truth from the simulator's folder {sim.path} (its "
                "responses, withheld ones included, and noiseless rates), checked to equal "
                "the responses the recording itself holds"
            )
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
