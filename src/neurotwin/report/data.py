"""What a report shows, as plain arrays: no model, trainer or recording is needed to draw it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from neurotwin.errors import NeurotwinError
from neurotwin.scoring.scores import ScoreReport
from neurotwin.scoring.tracks import SINGLE_TRIAL

if TYPE_CHECKING:  # the figures' module imports matplotlib: this one stays light
    from neurotwin.report.video import VideoSections

#: ``ScoreRow.ceiling_kind`` of rows that are bounds computed from the data alone.
DATA_BOUND = "data bound"


class ReportError(NeurotwinError):
    """The data handed to the report are inconsistent (the message names the field)."""


@dataclass
class ScoreRow:
    """One line of the score table.

    Attributes
    ----------
    phase
        ``"live"`` or ``"final"``.
    metric
        The metric's name (per-mouse and per-class rows name the mouse or class too).
    raw
        The model's score, or None when not defined.
    ceiling
        The best score possible given the noise, or None when unknown.
    fraction
        ``raw / ceiling``, or None.
    ceiling_kind
        ``"exact"`` (simulator rates), ``"oracle"`` (repeats), ``"data bound"`` (a property of
        the data alone, no model involved) or None.
    """

    phase: str
    metric: str
    raw: float | None
    ceiling: float | None = None
    fraction: float | None = None
    ceiling_kind: str | None = None


@dataclass
class Traces:
    """Single-trial responses of a few neurons beside the model's prediction.

    All three arrays are in one unit (the recording's, or the loaders' normalised one);
    rows are the same test trials, columns the same neurons.

    Attributes
    ----------
    prediction
        ``(trials, k)`` the model's predicted response.
    responses
        ``(trials, k)`` the recorded (noisy) responses.
    labels
        ``k`` names of the neurons (unit ids, with their scores if you like).
    true_rate
        ``(trials, k)`` the simulator's true rate, or None for a real recording.
    """

    prediction: np.ndarray
    responses: np.ndarray
    labels: list[str]
    true_rate: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.prediction = _matrix(self.prediction, "traces.prediction")
        self.responses = _matrix(self.responses, "traces.responses")
        self.labels = [str(x) for x in self.labels]
        shape = self.prediction.shape
        if self.responses.shape != shape:
            raise ReportError(
                f"traces.responses has shape {self.responses.shape}, expected {shape} "
                "(the shape of traces.prediction)"
            )
        if self.true_rate is not None:
            self.true_rate = _matrix(self.true_rate, "traces.true_rate")
            if self.true_rate.shape != shape:
                raise ReportError(
                    f"traces.true_rate has shape {self.true_rate.shape}, expected {shape} "
                    "(the shape of traces.prediction)"
                )
        if len(self.labels) != shape[1]:
            raise ReportError(
                f"traces.labels has {len(self.labels)} names, expected {shape[1]} (one per column)"
            )


@dataclass
class ReportData:
    """Everything the report page shows.

    Every part but the title may be left out (None or empty); the page then says what is
    missing instead of showing the figure. A real recording, for instance, has no true rates:
    leave ``neuron_ceiling``, ``traces.true_rate`` and ``rf_true`` out.

    Attributes
    ----------
    title
        The page's heading.
    facts
        Summary facts in display order, e.g. recording, neurons, trials per tier (a dict is
        shown as ``name value, ...``), model, epochs, training seconds, device.
    scores
        The score table (see :func:`rows_from_score_report`).
    learning_curve
        One dict per epoch with keys ``epoch``, ``train_loss``, ``validation_correlation`` and
        ``lr`` (missing keys or None values are skipped); decays of ``lr`` are marked.
    neuron_correlation
        ``(n,)`` per-neuron single-trial correlation of the model on the test tier.
    neuron_ceiling
        ``(n,)`` the same metric with the true rates as prediction (the exact ceiling).
    traces
        A few neurons' responses, predictions and true rates over test trials.
    rf_model
        ``(n, 2)`` the model's receptive-field centres, (row, column) in image pixels.
    rf_true
        ``(n, 2)`` the simulator's true centres, same units and neuron order.
    image_hw
        (height, width) of the image the positions refer to; taken from ``example_image``
        when left out.
    example_image
        ``(h, w)`` one stimulus, drawn under the receptive fields.
    video
        A video twin's sections (rates over time, out-of-domain classes, correlation
        against frame index; :class:`~neurotwin.report.video.VideoSections`), or None
        for a static twin (the page then has no video sections).
    notes
        Free text shown at the end of the page (one paragraph each).
    """

    title: str
    facts: dict[str, Any] = field(default_factory=dict)
    scores: list[ScoreRow] = field(default_factory=list)
    learning_curve: list[dict[str, Any]] | None = None
    neuron_correlation: np.ndarray | None = None
    neuron_ceiling: np.ndarray | None = None
    traces: Traces | None = None
    rf_model: np.ndarray | None = None
    rf_true: np.ndarray | None = None
    image_hw: tuple[int, int] | None = None
    example_image: np.ndarray | None = None
    video: VideoSections | None = None
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.title = str(self.title)
        self.facts = dict(self.facts)
        self.scores = list(self.scores)
        self.notes = [str(n) for n in self.notes]
        if self.learning_curve is not None:
            self.learning_curve = [dict(e) for e in self.learning_curve]
            for i, entry in enumerate(self.learning_curve):
                if "epoch" not in entry:
                    raise ReportError(f"learning_curve[{i}] has no 'epoch' key")
        if self.neuron_correlation is not None:
            self.neuron_correlation = _vector(self.neuron_correlation, "neuron_correlation")
        if self.neuron_ceiling is not None:
            self.neuron_ceiling = _vector(self.neuron_ceiling, "neuron_ceiling")
            if self.neuron_correlation is not None and len(self.neuron_ceiling) != len(
                self.neuron_correlation
            ):
                raise ReportError(
                    f"neuron_ceiling has {len(self.neuron_ceiling)} values, expected "
                    f"{len(self.neuron_correlation)} (one per neuron of neuron_correlation)"
                )
        if self.example_image is not None:
            image = np.asarray(self.example_image, dtype=np.float64)
            while image.ndim > 2 and image.shape[0] == 1:  # (1, h, w) as the loaders give
                image = image[0]
            if image.ndim != 2:
                raise ReportError(
                    f"example_image has shape {np.shape(self.example_image)}, expected (h, w)"
                )
            self.example_image = image
            if self.image_hw is None:
                self.image_hw = (int(image.shape[0]), int(image.shape[1]))
        if self.image_hw is not None:
            h, w = (int(x) for x in self.image_hw)
            self.image_hw = (h, w)
        for name in ("rf_model", "rf_true"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, _positions(value, name))
        if self.rf_model is not None and self.rf_true is not None:
            if self.rf_model.shape != self.rf_true.shape:
                raise ReportError(
                    f"rf_true has shape {self.rf_true.shape}, expected {self.rf_model.shape} "
                    "(the shape of rf_model: one (row, col) per neuron)"
                )


def _matrix(x: Any, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] == 0:
        raise ReportError(f"{name} has shape {a.shape}, expected (trials, neurons)")
    return a


def _vector(x: Any, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise ReportError(f"{name} has shape {a.shape}, expected (n_neurons,)")
    return a


def _positions(x: Any, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 2:
        raise ReportError(f"{name} has shape {a.shape}, expected (n_neurons, 2) (row, col)")
    return a


# ---------------------------------------------------------------------- from a ScoreReport
def rows_from_score_report(report: ScoreReport, *, details: bool = True) -> list[ScoreRow]:
    """Return the rows of the score table of ``report``.

    Parameters
    ----------
    report
        The scorer's report.
    details
        Also list per-mouse scores (several mice), per-class scores (out-of-domain track)
        and the data bounds (oracle correlation, explainable variance).

    Returns
    -------
    list of ScoreRow
        Phase by phase, each metric's raw score, ceiling and fraction of the ceiling.
    """
    rows: list[ScoreRow] = []
    for phase, ps in report.phases.items():
        for name, ms in ps.metrics.items():
            rows.append(
                ScoreRow(
                    phase=phase,
                    metric=name,
                    raw=_finite(ms.value),
                    ceiling=_finite(ms.ceiling),
                    fraction=_finite(ms.normalized),
                    ceiling_kind=ms.ceiling_kind,
                )
            )
            if not details:
                continue
            if len(ms.per_mouse) > 1:
                rows += [
                    ScoreRow(phase, f"{name}, mouse {k}", _finite(v))
                    for k, v in ms.per_mouse.items()
                ]
            rows += [
                ScoreRow(phase, f"{name}, class {c}", _finite(v)) for c, v in ms.per_class.items()
            ]
        if details:
            rows += [
                ScoreRow(phase, n, _finite(v), ceiling_kind=DATA_BOUND)
                for n, v in ps.extras.items()
            ]
    return rows


def per_neuron_from_score_report(
    report: ScoreReport, *, phase: str = "live", metric: str = SINGLE_TRIAL
) -> tuple[np.ndarray, np.ndarray | None]:
    """Return one metric's per-neuron values and ceilings, pooled over mice.

    Parameters
    ----------
    report
        The scorer's report.
    phase
        The phase (``"live"`` scores the test tier).
    metric
        The metric.

    Returns
    -------
    tuple
        ``(values, ceilings)``, both ``(n,)``; ``ceilings`` is None when the report has none.
    """
    if phase not in report.phases:
        raise ReportError(f"the score report has no phase {phase!r} (it has {list(report.phases)})")
    metrics = report.phases[phase].metrics
    if metric not in metrics:
        raise ReportError(
            f"the score report's {phase} phase has no metric {metric!r} (it has {list(metrics)})"
        )
    ms = metrics[metric]
    values = np.concatenate([np.asarray(v, np.float64) for v in ms.per_neuron.values()])
    if ms.ceiling_per_neuron is None:
        return values, None
    ceiling = np.concatenate(
        [np.asarray(ms.ceiling_per_neuron[k], np.float64) for k in ms.per_neuron]
    )
    return values, ceiling


def _finite(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


# ---------------------------------------------------------------------- helpers for callers
def example_neurons(scores: Sequence[float] | np.ndarray, k: int = 4) -> np.ndarray:
    """Pick ``k`` neurons spread over the range of ``scores``: best, quantiles, worst.

    Parameters
    ----------
    scores
        ``(n,)`` per-neuron scores (non-finite values are never picked).
    k
        How many neurons.

    Returns
    -------
    numpy.ndarray
        Indices into ``scores``, best first, without repeats.
    """
    s = np.asarray(scores, dtype=np.float64)
    finite = np.flatnonzero(np.isfinite(s))
    if finite.size == 0 or k <= 0:
        return np.zeros(0, dtype=np.int64)
    ranked = finite[np.argsort(-s[finite], kind="stable")]
    picks = np.round(np.linspace(0, len(ranked) - 1, min(k, len(ranked)))).astype(np.int64)
    return ranked[np.unique(picks)]


def rescale_positions(
    positions: np.ndarray, from_hw: tuple[int, int], to_hw: tuple[int, int]
) -> np.ndarray:
    """Map (row, col) pixel positions from one image size to another (pixel centres aligned).

    Use it when the model sees images of another size than the simulator's model grid, so
    that both sets of receptive fields are drawn in the same pixels.

    Parameters
    ----------
    positions
        ``(n, 2)`` (row, col) in pixels of an image of size ``from_hw``.
    from_hw, to_hw
        (height, width) of the two images.

    Returns
    -------
    numpy.ndarray
        ``(n, 2)`` positions in pixels of an image of size ``to_hw``.
    """
    p = _positions(positions, "positions")
    scale = np.asarray(to_hw, np.float64) / np.asarray(from_hw, np.float64)
    return (p + 0.5) * scale - 0.5


def facts_text(value: Any) -> str:
    """Format one summary fact for display (numbers rounded, dicts as ``key value, ...``)."""
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value)
    if isinstance(value, float | np.floating):
        v = float(value)
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {facts_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(facts_text(v) for v in value)
    return str(value)
