"""Metrics, ceilings, submission files and tracks of the SENSORIUM benchmarks."""

from neurotwin.scoring.errors import SubmissionError, TruthError
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
from neurotwin.scoring.scorer import MetricScore, PhaseScore, ScoreReport, score
from neurotwin.scoring.submission import (
    StaticPredictions,
    VideoPredictions,
    read_static_csv,
    read_video_parquet,
    write_static_csv,
    write_submission,
)
from neurotwin.scoring.tracks import Track, get_track, list_tracks
from neurotwin.scoring.truth import Truth, load_truth, make_truth, save_truth

__all__ = [
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
    "get_track",
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
