"""Metrics, ceilings, submission files and tracks of the SENSORIUM benchmarks."""

from typing import TYPE_CHECKING

from neurotwin._lazy import lazy_exports

if TYPE_CHECKING:
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
        "MetricScore": "neurotwin.scoring.scorer",
        "PhaseScore": "neurotwin.scoring.scorer",
        "ScoreReport": "neurotwin.scoring.scorer",
        "score": "neurotwin.scoring.scorer",
        "StaticPredictions": "neurotwin.scoring.submission",
        "VideoPredictions": "neurotwin.scoring.submission",
        "read_static_csv": "neurotwin.scoring.submission",
        "read_video_parquet": "neurotwin.scoring.submission",
        "write_static_csv": "neurotwin.scoring.submission",
        "write_submission": "neurotwin.scoring.submission",
        "Track": "neurotwin.scoring.tracks",
        "get_track": "neurotwin.scoring.tracks",
        "list_tracks": "neurotwin.scoring.tracks",
        "Truth": "neurotwin.scoring.truth",
        "load_truth": "neurotwin.scoring.truth",
        "make_truth": "neurotwin.scoring.truth",
        "save_truth": "neurotwin.scoring.truth",
    },
)

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
