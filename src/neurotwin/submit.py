"""From a trained twin to the benchmark: predictions per tier, submission files, scores.

These functions join the models, the loaders and the scorer; ``neurotwin predict``,
``neurotwin submit``, ``neurotwin evaluate`` and the demo call them. They take static
(2022) and video (2023) recordings alike and run one code path for both: the model's
task (:mod:`neurotwin.train.tasks`) gathers its predictions of a loader's batches, the
static task one row per trial, the video task whole trials of any length run in pieces
of bounded memory (:func:`~neurotwin.models.video_inference.predict_batch`) and cut to
the frames the 2023 score counts (50 up to 300 or the trial's end). Predictions stay in
the loaders' standardised unit, which is the unit of the submission files and of the
scorer. The video tracks span several mice: ``paths`` may be one recording or a list.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin.data import StaticRecording, open_recording
from neurotwin.data.loaders import LoaderConfig, make_loaders
from neurotwin.data.recording import Recording, VideoRecording, recording_path
from neurotwin.errors import NeurotwinError
from neurotwin.models.contract import TwinModel
from neurotwin.scoring.metrics import SKIP_FRAMES, scored_frames
from neurotwin.scoring.predictions import StaticPredictions, VideoPredictions
from neurotwin.scoring.scorer import resolve_truth, score
from neurotwin.scoring.scores import ScoreReport
from neurotwin.scoring.submission import write_submission
from neurotwin.scoring.tracks import PHASES, Track, get_track

PathLike = str | os.PathLike[str]
#: A recording given by its folder or zip, or already open.
RecordingLike = PathLike | Recording
#: One recording, or several (the video tracks score one recording per mouse).
RecordingsLike = RecordingLike | Sequence[RecordingLike]
#: The predictions of one tier: a 2022 CSV file's content or a 2023 parquet file's.
Predictions = StaticPredictions | VideoPredictions
#: The stimulus kinds of the models these functions predict.
PREDICTED_KINDS = ("static", "video")
#: Trials per forward pass when none is given, by stimulus kind. A video batch holds whole
#: trials (about 300 frames each), so it is small.
DEFAULT_BATCH_SIZE = {"static": 256, "video": 8}


def _kind_word(kind: str) -> str:
    return {"static": "static (2022)", "video": "video (2023)"}.get(kind, kind)


def _recording_for(model: TwinModel, path: RecordingLike) -> Recording:
    """Open a recording and refuse one of another stimulus kind than the model's."""
    if model.stimulus_kind not in PREDICTED_KINDS:
        raise NeurotwinError(
            f"model {model.name!r} takes {model.stimulus_kind} stimuli; these functions predict "
            "static (2022) and video (2023) recordings"
        )
    recording = open_recording(path)
    if recording.kind != model.stimulus_kind:
        raise NeurotwinError(
            f"{recording.location}: is a {_kind_word(recording.kind)} recording but model "
            f"{model.name!r} is a {model.stimulus_kind} model; predict it with a "
            f"{recording.kind} model"
        )
    return recording


def _recordings(paths: RecordingsLike) -> list[RecordingLike]:
    if isinstance(paths, str | os.PathLike | Recording):
        return [paths]
    paths = list(paths)
    if not paths:
        raise NeurotwinError("no recording given")
    return paths


def _check_track(model: TwinModel, track: Track) -> None:
    """Refuse a model of another kind than the track's, or one that reads what it forbids."""
    if model.stimulus_kind != track.kind:
        raise NeurotwinError(
            f"model {model.name!r} is a {model.stimulus_kind} model; track "
            f"{track.identifier!r} scores {_kind_word(track.kind)} recordings"
        )
    names = {"behavior": "behaviour", "pupil_center": "eye position"}
    uses = [names.get(f, f) for f in model.required_fields[1:]]
    if uses and "behavior" not in track.inputs:
        raise NeurotwinError(
            f"model {model.name!r} uses {' and '.join(uses)}, but track {track.identifier!r} "
            "allows the stimulus only; train an images-only model (e.g. 'sensorium') for it"
        )


def _check_video_trials(recording: VideoRecording, tier: str) -> None:
    """Refuse a trial of ``tier`` without a scored frame, naming its file."""
    for i in recording.tier_indices(tier):
        length = int(recording.lengths[i])
        if length > SKIP_FRAMES:
            continue
        where = recording.source.where(f"data/videos/{int(i)}.npy")
        what = (
            "is all padding (its first frame is NaN)"
            if length == 0
            else f"has {length} frames, none of them scored"
        )
        raise NeurotwinError(
            f"{where} (tier {tier!r}): the trial {what}; the 2023 score counts frames "
            f"{SKIP_FRAMES} to 300, so a trial must have more than {SKIP_FRAMES} frames"
        )


def _video_predictions(
    recording: VideoRecording, tier: str, index: np.ndarray, values: np.ndarray
) -> VideoPredictions:
    """Rows of the 2023 layout from the video task's ``(N, n, 250)`` scored frames."""
    rows = []
    for k, n_frames in enumerate(scored_frames(recording.lengths[index])):
        row = np.ascontiguousarray(values[k, :, :n_frames], dtype=np.float32)
        if not np.isfinite(row).all():
            frame = SKIP_FRAMES + int(np.flatnonzero(~np.isfinite(row).all(axis=0))[0])
            where = recording.source.where(f"data/videos/{int(index[k])}.npy")
            raise NeurotwinError(
                f"{where} (tier {tier!r}): the prediction of frame {frame} is not finite; a "
                "NaN in the trial's inputs (behavior, pupil_center) before its end, or a model "
                "whose weights hold NaN"
            )
        rows.append(row)
    return VideoPredictions(
        mice=np.full(len(index), recording.name, dtype=object).astype(str),
        trial_ids=recording.trial_ids[index].astype(str),
        neuron_ids={recording.name: np.asarray(recording.unit_ids, dtype=np.int64)},
        values=rows,
    )


def predict_tiers(
    model: TwinModel,
    path: RecordingLike,
    tiers: Sequence[str],
    *,
    batch_size: int | None = None,
    device: str = "cpu",
    cache_dir: PathLike | None = None,
    progress: bool = False,
) -> dict[str, Predictions]:
    """Predict every trial of some tiers of a static or video recording.

    Parameters
    ----------
    model
        A neurotwin model (or ensemble) of the recording's stimulus kind, with a readout for
        this recording.
    path
        The recording folder or zip, or the open recording.
    tiers
        Tiers to predict (static: ``train``, ``validation``, ``test``, ``final_test``...;
        video: ``oracle``, ``live_test_main``, ``live_test_bonus``...).
    batch_size
        Trials per forward pass (None: :data:`DEFAULT_BATCH_SIZE` of the kind, 256 static,
        8 video). A video batch holds whole trials; the model runs over them in pieces of
        :data:`~neurotwin.models.video_inference.DEFAULT_CHUNK_FRAMES` frames, so memory
        grows with the batch size, not with the trials' length.
    device
        Where the model runs.
    cache_dir
        Where the recording's cache lives.
    progress
        Show a progress bar if the cache has to be built.

    Returns
    -------
    dict
        Per tier, in file order: static recordings :class:`StaticPredictions` with trial,
        image and neuron ids ``(n_trials, n_neurons)``; video recordings
        :class:`VideoPredictions`, one row per trial of ``(n_neurons, F)`` predictions of
        its scored frames (50 up to 300 or the trial's end), the 2023 submission layout.

    Raises
    ------
    NeurotwinError
        A recording of another stimulus kind than the model's, a model without a readout
        for its neurons, a tier missing or empty, or (video) a trial without a scored frame
        (all padding, or 50 frames or fewer) or a prediction that is not finite.
    """
    from neurotwin.models import check_compatible
    from neurotwin.train import predict
    from neurotwin.train.tasks import TASKS

    recording = _recording_for(model, path)
    check_compatible(model, recording)
    info = model.infos[recording.key]
    present = [t for t, n in recording.tier_counts.items() if n]
    missing = [t for t in tiers if t not in present]
    if missing:
        raise NeurotwinError(
            f"{recording.location} has no trials in tier(s) {missing}; its tiers are {present}"
        )
    kind = recording.kind
    if isinstance(recording, VideoRecording):
        for tier in tiers:
            _check_video_trials(recording, tier)
    if batch_size is not None and (isinstance(batch_size, bool) or batch_size < 1):
        raise NeurotwinError(f"batch_size must be a positive integer, got {batch_size!r}")
    loaders = make_loaders(
        recording,
        LoaderConfig(
            batch_size=batch_size or DEFAULT_BATCH_SIZE[kind],
            fields=model.required_fields,
            tiers=tuple(tiers),
            shuffle=False,
            size=info.image_hw,
            preprocessing=info.preprocessing,
        ),
        cache_dir=cache_dir,
        progress=progress,
    )
    task = TASKS[kind]()
    out: dict[str, Predictions] = {}
    for tier in tiers:
        index, values = predict(model, loaders[tier][recording.key], recording.key, device, task)
        if isinstance(recording, VideoRecording):
            out[tier] = _video_predictions(recording, tier, index, values)
            continue
        assert isinstance(recording, StaticRecording)
        out[tier] = StaticPredictions(
            trial_ids=recording.trial_ids[index].astype(str),
            image_ids=recording.image_ids[index].astype(str),
            neuron_ids=np.asarray(recording.unit_ids, dtype=np.int64),
            values=np.asarray(values, dtype=np.float32),
        )
    return out


def merge_predictions(parts: Sequence[VideoPredictions]) -> VideoPredictions:
    """Join the 2023 predictions of several mice into one file's content, in the given order.

    Parameters
    ----------
    parts
        One per mouse (recording); no mouse twice.

    Returns
    -------
    VideoPredictions
        The rows of every part, one after the other.

    Raises
    ------
    NeurotwinError
        For no parts, or a mouse in two parts.
    """
    if not parts:
        raise NeurotwinError("no predictions to merge")
    neuron_ids: dict[str, np.ndarray] = {}
    for part in parts:
        twice = sorted(set(part.neuron_ids) & set(neuron_ids))
        if twice:
            raise NeurotwinError(f"mouse {twice[0]} is predicted twice; pass each recording once")
        neuron_ids.update(part.neuron_ids)
    return VideoPredictions(
        mice=np.concatenate([p.mice for p in parts]),
        trial_ids=np.concatenate([p.trial_ids for p in parts]),
        neuron_ids=neuron_ids,
        values=[row for p in parts for row in p.values],
    )


def track_predictions(
    model: TwinModel,
    paths: RecordingsLike,
    track: str | Track,
    phases: Sequence[str] = PHASES,
    **options: Any,
) -> dict[str, Predictions]:
    """Predict the tiers a track scores, by phase (``live``, ``final``).

    Parameters
    ----------
    model
        The model, of the track's stimulus kind.
    paths
        The recording of a static track; one recording or a list of them (one per mouse)
        for a video track.
    track
        ``sensorium``, ``sensorium+``, ``video-main`` or ``video-bonus``.
    phases
        The phases to predict (both by default).
    **options
        Passed to :func:`predict_tiers`.

    Returns
    -------
    dict
        ``{phase: predictions}``: :class:`StaticPredictions` for the static tracks,
        :class:`VideoPredictions` of every mouse (in the order given) for the video tracks.

    Raises
    ------
    NeurotwinError
        A model or recording of another kind than the track's, a model that reads behaviour
        for the images-only track, several recordings for a static track, or anything
        :func:`predict_tiers` refuses.
    """
    track = get_track(track)
    _check_track(model, track)
    recordings = _recordings(paths)
    if track.format.one_recording and len(recordings) != 1:
        raise NeurotwinError(
            f"track {track.identifier!r} scores one recording; {len(recordings)} were given"
        )
    tiers = [track.tier(p) for p in phases]
    per_mouse = [predict_tiers(model, r, tiers, **options) for r in recordings]
    out: dict[str, Predictions] = {}
    for phase, tier in zip(phases, tiers, strict=True):
        if len(per_mouse) == 1:
            out[phase] = per_mouse[0][tier]
            continue
        parts = [p[tier] for p in per_mouse]
        out[phase] = merge_predictions([p for p in parts if isinstance(p, VideoPredictions)])
    return out


def submission_path(track: str | Track, dest: PathLike) -> Path:
    """Return where :func:`make_submission` writes a track's submission.

    Parameters
    ----------
    track
        The track.
    dest
        A folder; for a video track also the zip itself (a name ending in ``.zip``).

    Returns
    -------
    pathlib.Path
        Static tracks: ``dest``, the folder of the two CSV files. Video tracks: ``dest``
        when it ends in ``.zip``, else ``dest/submission_{track}.zip`` (e.g.
        ``submission_video-main.zip``).
    """
    track = get_track(track)
    dest = Path(dest)
    if track.kind == "video" and dest.suffix.lower() != ".zip":
        return dest / f"submission_{track.identifier}.zip"
    return dest


def make_submission(
    model: TwinModel, paths: RecordingsLike, track: str | Track, dest: PathLike, **options: Any
) -> Path:
    """Write a track's submission files for its recordings, with the upload names.

    Static tracks: ``submission_file_live_test.csv`` and ``submission_file_final_test.csv``
    in the folder ``dest``. Video tracks: one zip holding
    ``predictions_live_main.parquet.brotli`` and ``predictions_final_main.parquet.brotli``
    (``video-main``) or ``predictions_live_test_bonus_ood.parquet.brotli`` and
    ``predictions_final_test_bonus_ood.parquet.brotli`` (``video-bonus``) at its root, every
    mouse in each file (see :func:`submission_path` for the zip's name). Written atomically.

    Parameters
    ----------
    model
        The model.
    paths
        The recording (static tracks) or recordings, one per mouse (video tracks).
    track
        The track.
    dest
        The folder to write into (video: or the zip to write).
    **options
        Passed to :func:`predict_tiers`.

    Returns
    -------
    pathlib.Path
        The folder (static) or zip (video) written.
    """
    track = get_track(track)
    predictions = track_predictions(model, paths, track, **options)
    target = submission_path(track, dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    return write_submission(track, target, predictions)


def evaluate(
    model: TwinModel,
    paths: RecordingsLike,
    track: str | Track,
    *,
    truth: PathLike | Sequence[PathLike] | None = None,
    per_frame: bool = False,
    **options: Any,
) -> ScoreReport:
    """Score a model on a track, every metric beside its ceiling.

    Parameters
    ----------
    model
        The model.
    paths
        The recording (static tracks) or recordings, one per mouse (video tracks); the
        phases whose tiers hold responses in every recording (all of them with the
        simulator's truth folder beside each) are scored, the others noted in the report.
    track
        The track.
    truth
        A ground-truth file (or recordings) to score against instead of ``paths``.
    per_frame
        Video tracks: normalise the responses per frame, as the official 2023 scorer did
        (see :func:`~neurotwin.scoring.resolve_truth`); the benchmark's default normalises
        per neuron.
    **options
        Passed to :func:`predict_tiers`.

    Returns
    -------
    ScoreReport
        The scores pooled over mice and per mouse, with exact ceilings where the
        simulator's truth is known; ``video-bonus`` also per out-of-domain class.

    Raises
    ------
    TruthError
        When no scored tier holds responses.
    NeurotwinError
        See :func:`track_predictions`.
    """
    track = get_track(track)
    _check_track(model, track)
    recordings = _recordings(paths)
    source: Any = [recording_path(r) for r in recordings] if truth is None else truth
    resolved = resolve_truth(track, source, per_frame=per_frame)
    phases = [p for p in PHASES if all(track.tier(p) in m.tiers for m in resolved.mice)]
    predictions: Mapping[str, Predictions] = track_predictions(
        model, recordings, track, phases, **options
    )
    return score(track, resolved, dict(predictions))
