"""The benchmark's tracks: what each one scores, from which inputs, and how it ranks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from neurotwin.errors import NeurotwinError

if TYPE_CHECKING:
    from neurotwin.scoring.formats import SubmissionFormat

#: The two scored phases of every track: the live leaderboard and the final ranking.
PHASES = ("live", "final")

#: Metric names, as reports and JSON spell them.
SINGLE_TRIAL = "single_trial_correlation"
TO_AVERAGE = "correlation_to_average"
FEVE = "feve"


@dataclass(frozen=True)
class Track:
    """One benchmark track, identified and versioned like a Brain-Score benchmark.

    Attributes
    ----------
    identifier
        The name users pass to ``--track``.
    version
        Bumped whenever scoring of the track changes; ground-truth files carry it.
    kind
        ``"static"`` (2022 images) or ``"video"`` (2023).
    tiers
        The recording tier scored in each phase, ``{"live": ..., "final": ...}``.
    inputs
        What a model may see: ``("stimulus",)`` or ``("stimulus", "behavior")``.
    metrics
        The metrics reported, ranking metric first.
    ranking_metric
        The metric the leaderboard sorts by.
    submission_files
        The file name of each phase's predictions (the upload names of the competition).
    kit_files
        Other names read as each phase's file: those the starting kit's submission
        writer gives it (2023: ``predictions_file_{tier}_{track}_track.parquet.brotli``).
    per_class
        Whether scores are also reported per out-of-domain stimulus class.
    description
        One line for listings.
    citation
        The paper that defines the benchmark and its scoring.
    """

    identifier: str
    version: str
    kind: Literal["static", "video"]
    tiers: Mapping[str, str]
    inputs: tuple[str, ...]
    metrics: tuple[str, ...]
    ranking_metric: str
    submission_files: Mapping[str, str]
    per_class: bool = False
    description: str = field(default="", compare=False)
    citation: str = field(default="", compare=False)
    kit_files: Mapping[str, tuple[str, ...]] = field(default_factory=dict, compare=False)

    @property
    def format(self) -> SubmissionFormat:
        """The track's submission format: reader, writer, aligner and metric table."""
        from neurotwin.scoring.formats import format_of  # lazily: formats imports tracks

        return format_of(self.kind)

    def tier(self, phase: str) -> str:
        """Return the recording tier scored in ``phase`` (``"live"`` or ``"final"``)."""
        if phase not in self.tiers:
            raise NeurotwinError(f"track {self.identifier}: unknown phase {phase!r}; use {PHASES}")
        return self.tiers[phase]

    def file_names(self, phase: str) -> tuple[str, ...]:
        """Return the names read as ``phase``'s file: the upload name, then the kit's."""
        return (self.submission_files[phase], *self.kit_files.get(phase, ()))

    def phase_of_file(self, name: str) -> str | None:
        """Return the phase a submission file name belongs to, or None."""
        for phase in self.submission_files:
            if name in self.file_names(phase):
                return phase
        return None

    def to_dict(self) -> dict[str, object]:
        """Describe the track as JSON-ready data."""
        return {
            "identifier": self.identifier,
            "version": self.version,
            "kind": self.kind,
            "tiers": dict(self.tiers),
            "inputs": list(self.inputs),
            "metrics": list(self.metrics),
            "ranking_metric": self.ranking_metric,
            "submission_files": dict(self.submission_files),
            "per_class": self.per_class,
            "description": self.description,
        }


#: The papers that define the benchmarks.
CITATION_2022 = (
    "Willeke K. F. et al. (2022). The Sensorium competition on predicting large-scale mouse "
    "primary visual cortex activity. arXiv:2206.08666"
)
CITATION_2023 = (
    "Turishcheva P. et al. (2023). The Dynamic Sensorium competition for predicting "
    "large-scale mouse visual cortex activity from videos. arXiv:2305.19654"
)

_STATIC_FILES = {"live": "submission_file_live_test.csv", "final": "submission_file_final_test.csv"}


def _kit_names(tiers: tuple[str, ...], track: str) -> tuple[str, ...]:
    """Return the 2023 kit's names: ``predictions_file_{tier}_{track}_track.parquet.brotli``."""
    return tuple(f"predictions_file_{tier}_{track}_track.parquet.brotli" for tier in tiers)


_TRACKS: dict[str, Track] = {
    t.identifier: t
    for t in (
        Track(
            identifier="sensorium",
            version="1.0",
            kind="static",
            tiers={"live": "test", "final": "final_test"},
            inputs=("stimulus",),
            metrics=(SINGLE_TRIAL, TO_AVERAGE, FEVE),
            ranking_metric=SINGLE_TRIAL,
            submission_files=_STATIC_FILES,
            description="SENSORIUM 2022: predict responses to natural images from the image only",
            citation=CITATION_2022,
        ),
        Track(
            identifier="sensorium+",
            version="1.0",
            kind="static",
            tiers={"live": "test", "final": "final_test"},
            inputs=("stimulus", "behavior"),
            metrics=(SINGLE_TRIAL, TO_AVERAGE, FEVE),
            ranking_metric=SINGLE_TRIAL,
            submission_files=_STATIC_FILES,
            description="SENSORIUM+ 2022: images plus behaviour and eye position",
            citation=CITATION_2022,
        ),
        Track(
            identifier="video-main",
            version="1.0",
            kind="video",
            tiers={"live": "live_test_main", "final": "final_test_main"},
            inputs=("stimulus", "behavior"),
            metrics=(SINGLE_TRIAL, TO_AVERAGE),
            ranking_metric=SINGLE_TRIAL,
            submission_files={
                "live": "predictions_live_main.parquet.brotli",
                "final": "predictions_final_main.parquet.brotli",
            },
            kit_files={
                "live": _kit_names(("live_test_main",), "main"),
                "final": _kit_names(("final_test_main",), "main"),
            },
            description="SENSORIUM 2023 main track: natural videos, behaviour allowed",
            citation=CITATION_2023,
        ),
        Track(
            identifier="video-bonus",
            version="1.0",
            kind="video",
            tiers={"live": "live_test_bonus", "final": "final_test_bonus"},
            inputs=("stimulus", "behavior"),
            metrics=(SINGLE_TRIAL, TO_AVERAGE),
            ranking_metric=SINGLE_TRIAL,
            submission_files={
                "live": "predictions_live_test_bonus_ood.parquet.brotli",
                "final": "predictions_final_test_bonus_ood.parquet.brotli",
            },
            # the kit names its tier "{tier}_ood" for track "ood"; the data call it "_bonus"
            kit_files={
                "live": _kit_names(("live_test_ood", "live_test_bonus"), "ood"),
                "final": _kit_names(("final_test_ood", "final_test_bonus"), "ood"),
            },
            per_class=True,
            description="SENSORIUM 2023 bonus track: out-of-domain videos, scored per class too",
            citation=CITATION_2023,
        ),
    )
}


def list_tracks() -> list[str]:
    """Return the identifiers of every track."""
    return list(_TRACKS)


def get_track(track: str | Track) -> Track:
    """Return a track by identifier (a :class:`Track` is returned as is).

    Parameters
    ----------
    track
        ``sensorium``, ``sensorium+``, ``video-main`` or ``video-bonus``.

    Returns
    -------
    Track
        The track.

    Raises
    ------
    NeurotwinError
        For an unknown identifier.
    """
    if isinstance(track, Track):
        return track
    if track not in _TRACKS:
        raise NeurotwinError(f"unknown track {track!r}; tracks: {', '.join(_TRACKS)}")
    return _TRACKS[track]
