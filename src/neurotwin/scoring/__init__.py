"""Metrics, ceilings, submission files and tracks of the SENSORIUM benchmarks.

Importing this package is light (numpy only): every name is imported on first use.
"""

from typing import TYPE_CHECKING

from neurotwin._lazy import lazy_exports

if TYPE_CHECKING:
    from neurotwin.scoring.aligned import AlignedSubmission
    from neurotwin.scoring.errors import SubmissionError, TruthError
    from neurotwin.scoring.formats import SubmissionFormat
    from neurotwin.scoring.measures import Measure, get_measure, list_measures
    from neurotwin.scoring.metrics import (
        correlation,
        correlation_to_average,
        explainable_variance,
        feve,
        oracle_correlation,
        single_trial_correlation,
        video_correlation,
        video_correlation_to_average,
        video_oracle_correlation,
    )
    from neurotwin.scoring.normalize import standardize
    from neurotwin.scoring.predictions import StaticPredictions, VideoPredictions
    from neurotwin.scoring.scorer import check_submission, score, score_aligned
    from neurotwin.scoring.scores import MetricScore, PhaseScore, ScoreReport
    from neurotwin.scoring.static_csv import read_static_csv, write_static_csv
    from neurotwin.scoring.submission import write_submission
    from neurotwin.scoring.tracks import Track, get_track, list_tracks
    from neurotwin.scoring.truth import Truth, make_truth
    from neurotwin.scoring.truth_file import load_truth, save_truth
    from neurotwin.scoring.video_parquet import read_video_parquet

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "SubmissionError": "neurotwin.scoring.errors",
        "TruthError": "neurotwin.scoring.errors",
        "correlation": "neurotwin.scoring.metrics",
        "correlation_to_average": "neurotwin.scoring.metrics",
        "explainable_variance": "neurotwin.scoring.metrics",
        "feve": "neurotwin.scoring.metrics",
        "oracle_correlation": "neurotwin.scoring.metrics",
        "single_trial_correlation": "neurotwin.scoring.metrics",
        "video_correlation": "neurotwin.scoring.metrics",
        "video_correlation_to_average": "neurotwin.scoring.metrics",
        "video_oracle_correlation": "neurotwin.scoring.metrics",
        "standardize": "neurotwin.scoring.normalize",
        "SubmissionFormat": "neurotwin.scoring.formats",
        "MetricScore": "neurotwin.scoring.scores",
        "PhaseScore": "neurotwin.scoring.scores",
        "ScoreReport": "neurotwin.scoring.scores",
        "AlignedSubmission": "neurotwin.scoring.aligned",
        "Measure": "neurotwin.scoring.measures",
        "get_measure": "neurotwin.scoring.measures",
        "list_measures": "neurotwin.scoring.measures",
        "check_submission": "neurotwin.scoring.scorer",
        "score": "neurotwin.scoring.scorer",
        "score_aligned": "neurotwin.scoring.scorer",
        "StaticPredictions": "neurotwin.scoring.predictions",
        "VideoPredictions": "neurotwin.scoring.predictions",
        "read_static_csv": "neurotwin.scoring.static_csv",
        "read_video_parquet": "neurotwin.scoring.video_parquet",
        "write_static_csv": "neurotwin.scoring.static_csv",
        "write_submission": "neurotwin.scoring.submission",
        "Track": "neurotwin.scoring.tracks",
        "get_track": "neurotwin.scoring.tracks",
        "list_tracks": "neurotwin.scoring.tracks",
        "Truth": "neurotwin.scoring.truth",
        "load_truth": "neurotwin.scoring.truth_file",
        "make_truth": "neurotwin.scoring.truth",
        "save_truth": "neurotwin.scoring.truth_file",
    },
)

__all__ = [
    "AlignedSubmission",
    "SubmissionFormat",
    "check_submission",
    "score_aligned",
    "Measure",
    "MetricScore",
    "PhaseScore",
    "ScoreReport",
    "StaticPredictions",
    "SubmissionError",
    "Track",
    "Truth",
    "TruthError",
    "VideoPredictions",
    "correlation",
    "correlation_to_average",
    "explainable_variance",
    "feve",
    "get_measure",
    "get_track",
    "list_measures",
    "list_tracks",
    "load_truth",
    "make_truth",
    "oracle_correlation",
    "read_static_csv",
    "read_video_parquet",
    "save_truth",
    "score",
    "single_trial_correlation",
    "standardize",
    "video_correlation",
    "video_correlation_to_average",
    "video_oracle_correlation",
    "write_static_csv",
    "write_submission",
]
