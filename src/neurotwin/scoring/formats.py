"""One submission format per kind of track: how its predictions are read, written, aligned, scored.

Each :class:`~neurotwin.scoring.tracks.Track` reaches its format through
:attr:`~neurotwin.scoring.tracks.Track.format`, so the scorer, the ground-truth cutter and
the submission writer dispatch through the track instead of testing its kind. The 2022
format reads and writes a CSV per phase (:mod:`neurotwin.scoring.static_csv`) and scores
per image; the 2023 format reads and writes a parquet per phase, zipped together
(:mod:`neurotwin.scoring.video_parquet`), and scores per frame after the first 50.
"""

from __future__ import annotations

import abc
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from neurotwin import atomic
from neurotwin.scoring import static_csv, streamed
from neurotwin.scoring.align import align_static, align_video, plan_video
from neurotwin.scoring.errors import ProblemList
from neurotwin.scoring.measures import Measure, get_measure
from neurotwin.scoring.predictions import StaticPredictions, VideoPredictions
from neurotwin.scoring.streamed import ScannedVideo, StreamedVideoPhase
from neurotwin.scoring.tracks import PHASES, SINGLE_TRIAL, TO_AVERAGE
from neurotwin.scoring.upload import UploadFile
from neurotwin.scoring.video_parquet import (
    ReadLimits,
    decoded_bytes,
    scan_video_parquet,
    video_parquet_files,
)

if TYPE_CHECKING:
    from neurotwin.scoring.tracks import Track
    from neurotwin.scoring.truth import TierTruth, Truth

Predictions = StaticPredictions | VideoPredictions
#: A metric: per-neuron values from ``(predictions, tier truth)``.
Metric = Callable[[np.ndarray, "TierTruth"], np.ndarray]


@dataclass(frozen=True)
class SubmissionFormat(abc.ABC):
    """How one kind of track (``static`` 2022 or ``video`` 2023) is submitted and scored.

    Attributes
    ----------
    kind
        ``"static"`` or ``"video"``: the recordings the track scores.
    release
        The file format, as messages name it (``"2022 CSV"``, ``"2023 parquet"``).
    predictions_type
        The in-memory predictions the format reads and writes.
    one_recording
        Whether the track scores exactly one recording (2022) or one per mouse (2023).
    metrics
        The metric table: each metric the track reports (FEVE is scored apart), by the name
        of the :class:`~neurotwin.scoring.measures.Measure` that computes it on this kind.
    has_frames
        Whether responses and predictions have a time axis: ground truth is
        ``(n_trials, n_neurons, frames)`` with ``n_frames`` and ``lengths`` per trial.
    """

    kind: str
    release: str
    predictions_type: type
    one_recording: bool
    metrics: Mapping[str, str]
    has_frames: bool

    def metric(self, name: str) -> Measure:
        """Return the measure behind the reported metric ``name`` (KeyError when unknown)."""
        return get_measure(self.metrics[name], "metric")

    @abc.abstractmethod
    def read(
        self, data: UploadFile, name: str, truth: Truth, tier: str, problems: ProblemList
    ) -> Predictions | ScannedVideo:
        """Parse or check one phase's file (see the release's reader); raises SubmissionError."""

    @abc.abstractmethod
    def write(self, track: Track, dest: Path, predictions: Mapping[str, Predictions]) -> Path:
        """Write both phases' predictions in the competition's layout; return ``dest``."""

    @abc.abstractmethod
    def align(
        self,
        pred: Predictions | ScannedVideo,
        truth: Truth,
        tier: str,
        name: str,
        problems: ProblemList,
    ) -> Mapping[str, np.ndarray] | None:
        """Align parsed predictions to the truth of ``tier``; per mouse, or None on problems."""


class StaticFormat(SubmissionFormat):
    """The 2022 format: a CSV file per phase, one recording, images scored per trial."""

    def read(
        self, data: UploadFile, name: str, truth: Truth, tier: str, problems: ProblemList
    ) -> Predictions:
        """See :meth:`SubmissionFormat.read`: the whole CSV is parsed (files are small)."""
        return static_csv.read_static_csv(data.read_bytes(), name, problems)

    def write(self, track: Track, dest: Path, predictions: Mapping[str, Predictions]) -> Path:
        """See :meth:`SubmissionFormat.write`."""
        if not all(isinstance(predictions[p], StaticPredictions) for p in PHASES):
            raise TypeError(f"track {track.identifier} needs StaticPredictions")
        # both files are written into a temporary folder first and moved together, so a
        # full disk leaves the previous submission (or nothing), never one file of two
        dest.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".submission-", dir=dest))
        try:
            for phase in PHASES:
                pred = predictions[phase]
                assert isinstance(pred, StaticPredictions)
                static_csv.write_static_csv(tmp / track.submission_files[phase], pred)
            for phase in PHASES:
                name = track.submission_files[phase]
                atomic.publish(tmp / name, dest / name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return dest

    def align(
        self,
        pred: Predictions | ScannedVideo,
        truth: Truth,
        tier: str,
        name: str,
        problems: ProblemList,
    ) -> Mapping[str, np.ndarray] | None:
        """See :meth:`SubmissionFormat.align`."""
        assert isinstance(pred, StaticPredictions)
        mouse = truth.mice[0]
        values = align_static(pred, mouse, tier, name, problems)
        return None if values is None else {mouse.name: values}


class VideoFormat(SubmissionFormat):
    """The 2023 format: a parquet file per phase in one zip, one recording per mouse."""

    def read(
        self, data: UploadFile, name: str, truth: Truth, tier: str, problems: ProblemList
    ) -> ScannedVideo:
        """See :meth:`SubmissionFormat.read`: the file is checked by batches.

        Its decoded rows are kept when they take at most
        :data:`~neurotwin.scoring.streamed.KEEP_BYTES`, so that scoring does not decode the
        file again; a larger file keeps only its index.
        """
        with data.open() as handle:
            size = decoded_bytes(handle)
            rows: list[np.ndarray] | None = (
                [] if size is not None and size <= streamed.KEEP_BYTES else None
            )
            limits = ReadLimits.for_tier(truth, tier)
            index = scan_video_parquet(handle, name, limits, problems, keep=rows)
        return ScannedVideo(data, index, rows)

    def write(self, track: Track, dest: Path, predictions: Mapping[str, Predictions]) -> Path:
        """See :meth:`SubmissionFormat.write`."""
        preds = [predictions[phase] for phase in PHASES]
        if not all(isinstance(p, VideoPredictions) for p in preds):
            raise TypeError(f"track {track.identifier} needs VideoPredictions")
        files = video_parquet_files(preds)  # type: ignore[arg-type]
        # the zip is written straight into a temporary file beside dest, renamed into place
        with atomic.atomic_path(dest) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
            for phase, data in zip(PHASES, files, strict=True):
                zf.writestr(track.submission_files[phase], data)
        return dest

    def align(
        self,
        pred: Predictions | ScannedVideo,
        truth: Truth,
        tier: str,
        name: str,
        problems: ProblemList,
    ) -> Mapping[str, np.ndarray] | None:
        """See :meth:`SubmissionFormat.align`: a checked file stays in its file."""
        if isinstance(pred, ScannedVideo):
            plans = plan_video(pred.index, truth, tier, name, problems)
            if plans is None:
                return None
            shapes = {m.name: m.tiers[tier].responses.shape for m in truth.mice}
            return StreamedVideoPhase(pred.file, len(pred.index.mice), plans, shapes, pred.rows)
        assert isinstance(pred, VideoPredictions)
        return align_video(pred, truth, tier, name, problems)


FORMATS: dict[str, SubmissionFormat] = {
    "static": StaticFormat(
        kind="static",
        release="2022 CSV",
        predictions_type=StaticPredictions,
        one_recording=True,
        has_frames=False,
        metrics={SINGLE_TRIAL: "single_trial_correlation", TO_AVERAGE: "correlation_to_average"},
    ),
    "video": VideoFormat(
        kind="video",
        release="2023 parquet",
        predictions_type=VideoPredictions,
        one_recording=False,
        has_frames=True,
        metrics={
            SINGLE_TRIAL: "video_correlation",
            TO_AVERAGE: "video_correlation_to_average",
        },
    ),
}


def format_of(kind: str) -> SubmissionFormat:
    """Return the submission format of a kind of track (``"static"`` or ``"video"``)."""
    return FORMATS[kind]
