"""From a trained twin to the benchmark: predictions per tier, submission files, scores.

These functions join the models, the loaders and the scorer; ``neurotwin predict``,
``neurotwin submit``, ``neurotwin evaluate`` and the demo call them. Predictions stay in the
loaders' standardised unit, which is the unit of the submission files and of the scorer.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin.data import StaticRecording, open_recording
from neurotwin.data.loaders import LoaderConfig, make_loaders
from neurotwin.data.recording import Recording, recording_path
from neurotwin.errors import NeurotwinError
from neurotwin.models.contract import TwinModel
from neurotwin.scoring.predictions import StaticPredictions
from neurotwin.scoring.scorer import resolve_truth, score
from neurotwin.scoring.scores import ScoreReport
from neurotwin.scoring.submission import write_submission
from neurotwin.scoring.tracks import PHASES, Track, get_track

PathLike = str | os.PathLike[str]
#: A recording given by its folder or zip, or already open.
RecordingLike = PathLike | Recording
#: The stimulus kinds of the models these functions predict.
PREDICTED_KINDS = ("static",)


def _static(path: RecordingLike) -> StaticRecording:
    recording = open_recording(path)
    if not isinstance(recording, StaticRecording):
        raise NeurotwinError(
            f"{recording.location} is a {recording.kind} recording; static twins predict "
            "static (2022) recordings"
        )
    return recording


def _check_track_inputs(model: TwinModel, track: Track) -> None:
    names = {"behavior": "behaviour", "pupil_center": "eye position"}
    uses = [names.get(f, f) for f in model.required_fields[1:]]
    if uses and "behavior" not in track.inputs:
        raise NeurotwinError(
            f"model {model.name!r} uses {' and '.join(uses)}, but track {track.identifier!r} "
            "allows the stimulus only; train an images-only model (e.g. 'sensorium') for it"
        )


def predict_tiers(
    model: TwinModel,
    path: RecordingLike,
    tiers: Sequence[str],
    *,
    batch_size: int = 256,
    device: str = "cpu",
    cache_dir: PathLike | None = None,
    progress: bool = False,
) -> dict[str, StaticPredictions]:
    """Predict every trial of some tiers of a static recording.

    Parameters
    ----------
    model
        A neurotwin model (or ensemble) with a readout for this recording.
    path
        The recording folder or zip, or the open recording.
    tiers
        Tiers to predict (``train``, ``validation``, ``test``, ``final_test``...).
    batch_size
        Trials per forward pass.
    device
        Where the model runs.
    cache_dir
        Where the recording's cache lives.
    progress
        Show a progress bar if the cache has to be built.

    Returns
    -------
    dict
        Per tier, the predictions with trial, image and neuron ids, in file order.

    Raises
    ------
    NeurotwinError
        When the model does not fit the recording or a tier is missing or empty.
    """
    from neurotwin.models import check_compatible
    from neurotwin.train import predict

    if model.stimulus_kind not in PREDICTED_KINDS:
        raise NeurotwinError(
            f"model {model.name!r} takes {model.stimulus_kind} stimuli; these functions predict "
            "static (2022) recordings"
        )
    recording = _static(path)
    check_compatible(model, recording)
    info = model.infos[recording.key]
    present = [t for t, n in recording.tier_counts.items() if n]
    missing = [t for t in tiers if t not in present]
    if missing:
        raise NeurotwinError(
            f"{recording.location} has no trials in tier(s) {missing}; its tiers are {present}"
        )
    loaders = make_loaders(
        recording,
        LoaderConfig(
            batch_size=batch_size,
            fields=model.required_fields,
            tiers=tuple(tiers),
            shuffle=False,
            size=info.image_hw,
            preprocessing=info.preprocessing,
        ),
        cache_dir=cache_dir,
        progress=progress,
    )
    out = {}
    for tier in tiers:
        index, values = predict(model, loaders[tier][recording.key], recording.key, device)
        out[tier] = StaticPredictions(
            trial_ids=recording.trial_ids[index].astype(str),
            image_ids=recording.image_ids[index].astype(str),
            neuron_ids=np.asarray(recording.unit_ids, dtype=np.int64),
            values=np.asarray(values, dtype=np.float32),
        )
    return out


def track_predictions(
    model: TwinModel,
    path: RecordingLike,
    track: str | Track,
    phases: Sequence[str] = PHASES,
    **options: Any,
) -> dict[str, StaticPredictions]:
    """Predict the tiers a track scores, by phase (``live``, ``final``).

    Parameters
    ----------
    model
        The model.
    path
        The recording of the track.
    track
        A static track (``sensorium`` or ``sensorium+``).
    phases
        The phases to predict (both by default).
    **options
        Passed to :func:`predict_tiers`.

    Returns
    -------
    dict
        ``{phase: predictions}``.
    """
    track = get_track(track)
    if track.format.predictions_type is not StaticPredictions:
        raise NeurotwinError(f"track {track.identifier!r} is a video track; static twins cannot")
    _check_track_inputs(model, track)
    by_tier = predict_tiers(model, path, [track.tier(p) for p in phases], **options)
    return {phase: by_tier[track.tier(phase)] for phase in phases}


def make_submission(
    model: TwinModel, path: RecordingLike, track: str | Track, dest: PathLike, **options: Any
) -> Path:
    """Write a track's submission files for a recording.

    Parameters
    ----------
    model
        The model.
    path
        The recording of the track.
    track
        A static track.
    dest
        Folder that receives the two CSV files (written atomically).
    **options
        Passed to :func:`predict_tiers`.

    Returns
    -------
    pathlib.Path
        The folder written.
    """
    return write_submission(track, dest, track_predictions(model, path, track, **options))


def evaluate(
    model: TwinModel,
    path: RecordingLike,
    track: str | Track,
    *,
    truth: PathLike | Sequence[PathLike] | None = None,
    **options: Any,
) -> ScoreReport:
    """Score a model on a track, every metric beside its ceiling.

    Parameters
    ----------
    model
        The model.
    path
        The recording; the phases whose tiers hold responses (all of them with the
        simulator's truth folder beside it) are scored, the others noted in the report.
    track
        A static track.
    truth
        A ground-truth file to score against instead of the recording.
    **options
        Passed to :func:`predict_tiers`.

    Returns
    -------
    ScoreReport
        The scores, with exact ceilings where the simulator's truth is known.

    Raises
    ------
    TruthError
        When no scored tier holds responses.
    """
    track = get_track(track)
    resolved = resolve_truth(track, recording_path(path) if truth is None else truth)
    phases = [p for p in PHASES if all(track.tier(p) in m.tiers for m in resolved.mice)]
    predictions = track_predictions(model, path, track, phases, **options)
    return score(track, resolved, dict(predictions))
