"""What a report adds for a video (2023) twin: rates over time, out-of-domain classes, frames.

Three figures, each a function of plain arrays:

- :func:`rate_traces_figure`: predicted against true rate (and the noisy responses) of a
  few neurons over the frames of one test trial, the unscored first frames shaded;
- :func:`class_bars_figure`: the single-trial correlation on each out-of-domain (bonus)
  stimulus class beside its exact ceiling;
- :func:`frame_correlation_figure`: the single-trial correlation at each frame index
  (:func:`correlation_by_frame`), beside the same curve for the true rates.

:class:`VideoSections` gathers their data for :class:`~neurotwin.report.ReportData`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from neurotwin.report.data import ReportError
from neurotwin.report.figures import CEILING, MODEL, RESPONSES, TRUTH, _figure
from neurotwin.scoring.metrics import SKIP_FRAMES, STOP_FRAME
from neurotwin.stats import correlation

#: Frame rate of the 2023 recordings (Hz).
FPS = 30.0


@dataclass
class RateTraces:
    """A few neurons' rates over the frames of one trial.

    Attributes
    ----------
    prediction
        ``(T, k)`` the model's predicted rate at each frame (NaN where it predicts nothing).
    labels
        ``k`` neuron names.
    true_rate
        ``(T, k)`` the simulator's noiseless rate, or None for a real recording.
    responses
        ``(T, k)`` the recorded single-trial responses, or None.
    first_frame
        Frame index of row 0 (0: the trial's first frame).
    """

    prediction: np.ndarray
    labels: list[str]
    true_rate: np.ndarray | None = None
    responses: np.ndarray | None = None
    first_frame: int = 0

    def __post_init__(self) -> None:
        self.prediction = _series(self.prediction, "rate_traces.prediction")
        shape = self.prediction.shape
        for name in ("true_rate", "responses"):
            value = getattr(self, name)
            if value is not None:
                value = _series(value, f"rate_traces.{name}")
                if value.shape != shape:
                    raise ReportError(
                        f"rate_traces.{name} has shape {value.shape}, expected {shape} "
                        "(the shape of rate_traces.prediction)"
                    )
                setattr(self, name, value)
        self.labels = [str(x) for x in self.labels]
        if len(self.labels) != shape[1]:
            raise ReportError(
                f"rate_traces.labels has {len(self.labels)} names, expected {shape[1]} "
                "(one per column)"
            )


@dataclass
class VideoSections:
    """The video report's data; every part may be left out (None or empty).

    Attributes
    ----------
    rate_traces
        A few neurons over one test trial.
    class_scores
        Per out-of-domain class, the model's single-trial correlation (bonus tier).
    class_ceilings
        Per class, the exact ceiling of the same score (the true rates' correlation).
    frame_correlation
        ``(F,)`` single-trial correlation at each scored frame (:func:`correlation_by_frame`).
    frame_ceiling
        ``(F,)`` the same with the true rates as prediction, or None.
    first_frame
        Frame index of ``frame_correlation[0]`` (the scorer's first scored frame, 50).
    """

    rate_traces: RateTraces | None = None
    class_scores: dict[str, float] = field(default_factory=dict)
    class_ceilings: dict[str, float] | None = None
    frame_correlation: np.ndarray | None = None
    frame_ceiling: np.ndarray | None = None
    first_frame: int = SKIP_FRAMES

    def __post_init__(self) -> None:
        self.class_scores = {str(k): float(v) for k, v in self.class_scores.items()}
        if self.class_ceilings is not None:
            self.class_ceilings = {str(k): float(v) for k, v in self.class_ceilings.items()}
            missing = sorted(set(self.class_scores) - set(self.class_ceilings))
            if missing:
                raise ReportError(f"class_ceilings has no value for class(es) {missing}")
        if self.frame_correlation is not None:
            self.frame_correlation = _vector(self.frame_correlation, "frame_correlation")
        if self.frame_ceiling is not None:
            self.frame_ceiling = _vector(self.frame_ceiling, "frame_ceiling")
            if self.frame_correlation is not None and (
                self.frame_ceiling.shape != self.frame_correlation.shape
            ):
                raise ReportError(
                    f"frame_ceiling has {len(self.frame_ceiling)} values, expected "
                    f"{len(self.frame_correlation)} (one per frame of frame_correlation)"
                )


def _series(x: object, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ReportError(f"{name} has shape {a.shape}, expected (frames, neurons)")
    return a


def _vector(x: object, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ReportError(f"{name} has shape {a.shape}, expected (frames,)")
    return a


# ---------------------------------------------------------------------- computing
def correlation_by_frame(prediction: np.ndarray, responses: np.ndarray) -> np.ndarray:
    """Return the single-trial correlation at each frame index, over trials.

    At each frame, each neuron's prediction is correlated with its response over the
    trials that hold the frame (the SENSORIUM Pearson correlation, NaN counting as 0), and
    the mean over neurons is taken. It shows how the accuracy changes over a trial: the
    recurrent state warming up after the video starts, adaptation, the end of short trials.

    Parameters
    ----------
    prediction, responses
        ``(trials, neurons, F)`` the same frames of the same trials (the scorer's aligned
        layout: scored frames only, NaN past a trial's end).

    Returns
    -------
    numpy.ndarray
        ``(F,)`` float64; NaN at frames fewer than two trials hold.

    Raises
    ------
    ReportError
        When the shapes differ or are not ``(trials, neurons, frames)``.
    """
    p = np.asarray(prediction, dtype=np.float64)
    r = np.asarray(responses, dtype=np.float64)
    if p.shape != r.shape or p.ndim != 3:
        raise ReportError(
            f"prediction {p.shape} and responses {r.shape} must both be (trials, neurons, frames)"
        )
    held = np.asarray(~(np.isnan(p).any(axis=1) | np.isnan(r).any(axis=1)))  # (trials, F)
    out = np.full(p.shape[2], np.nan)
    for f in range(p.shape[2]):
        trials = np.flatnonzero(held[:, f])
        if len(trials) >= 2:
            out[f] = float(correlation(p[trials, :, f], r[trials, :, f], axis=0).mean())
    return out


# ---------------------------------------------------------------------- figures
def rate_traces_figure(
    prediction: np.ndarray,
    labels: Sequence[str] | None = None,
    true_rate: np.ndarray | None = None,
    responses: np.ndarray | None = None,
    *,
    first_frame: int = 0,
    fps: float = FPS,
) -> Figure:
    """Plot predicted against true rate of a few neurons over the frames of one trial.

    Parameters
    ----------
    prediction
        ``(T, k)`` predicted rates (NaN where the model predicts nothing).
    labels
        ``k`` neuron names for the panel titles.
    true_rate
        ``(T, k)`` the simulator's noiseless rates, or None.
    responses
        ``(T, k)`` the noisy single-trial responses, or None.
    first_frame
        Frame index of row 0.
    fps
        Frames per second (the upper time axis).

    Returns
    -------
    matplotlib.figure.Figure
        One panel per neuron against frame index; the frames the scorer skips (before
        frame 50, from frame 300 on) are shaded.
    """
    traces = RateTraces(prediction, list(labels or []) or _names(prediction), true_rate, responses)
    pred, rate, resp = traces.prediction, traces.true_rate, traces.responses
    frames = first_frame + np.arange(pred.shape[0])
    k = pred.shape[1]
    fig = _figure(9.0, 0.5 + 1.7 * k)
    axes = np.atleast_1d(fig.subplots(k, 1, sharex=True, squeeze=False)).ravel()
    for i, ax in enumerate(axes):
        if resp is not None:
            ax.plot(frames, resp[:, i], color=RESPONSES, lw=0.6, label="responses")
        if rate is not None:
            ax.plot(frames, rate[:, i], color=TRUTH, lw=1.4, label="true rate")
        ax.plot(frames, pred[:, i], color=MODEL, lw=1.2, label="model")
        ax.axvspan(frames[0] - 0.5, min(SKIP_FRAMES, frames[-1] + 1) - 0.5, color="0.9", lw=0)
        if frames[-1] >= STOP_FRAME:
            ax.axvspan(STOP_FRAME - 0.5, frames[-1] + 0.5, color="0.9", lw=0)
        ax.set_xlim(frames[0] - 0.5, frames[-1] + 0.5)
        ax.set_title(traces.labels[i], fontsize=9)
        ax.set_ylabel("rate", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, lw=0.5)
    axes[-1].set_xlabel(f"frame ({fps:g} Hz; shaded: not scored)", fontsize=8)
    _seconds_axis(axes[0], fps)
    axes[0].legend(loc="upper right", fontsize=7, frameon=False, ncol=3)
    return fig


def _seconds_axis(ax: Axes, fps: float) -> None:
    """Label the top of ``ax`` in seconds (its x axis counts frames)."""

    def to_seconds(frames: ArrayLike) -> np.ndarray:
        return np.asarray(frames, dtype=np.float64) / fps

    def to_frames(seconds: ArrayLike) -> np.ndarray:
        return np.asarray(seconds, dtype=np.float64) * fps

    axis = ax.secondary_xaxis("top", functions=(to_seconds, to_frames))
    axis.set_xlabel("time (s)", fontsize=8)
    axis.tick_params(labelsize=7)


def _names(prediction: np.ndarray) -> list[str]:
    return [f"neuron {i}" for i in range(_series(prediction, "prediction").shape[1])]


def class_bars_figure(
    scores: Mapping[str, float], ceilings: Mapping[str, float] | None = None
) -> Figure:
    """Draw the single-trial correlation of each out-of-domain class beside its ceiling.

    Parameters
    ----------
    scores
        Per class, the model's single-trial correlation.
    ceilings
        Per class, the exact ceiling, or None.

    Returns
    -------
    matplotlib.figure.Figure
        Grouped bars, one group per class; with ceilings, each model bar is labelled with
        its fraction of the ceiling.
    """
    if not scores:
        raise ReportError("no per-class scores to draw")
    classes = list(scores)
    if ceilings is not None:
        missing = [c for c in classes if c not in ceilings]
        if missing:
            raise ReportError(f"ceilings has no value for class(es) {missing}")
    x = np.arange(len(classes), dtype=np.float64)
    values = np.array([scores[c] for c in classes], dtype=np.float64)
    fig = _figure(max(4.8, 1.1 * len(classes) + 2.0), 3.8)
    ax = fig.subplots()
    width = 0.38 if ceilings is not None else 0.6
    shift = width / 2 if ceilings is not None else 0.0
    bars = ax.bar(x - shift, values, width, color=MODEL, label="model")
    if ceilings is not None:
        ceil = np.array([ceilings[c] for c in classes], dtype=np.float64)
        ax.bar(x + shift, ceil, width, color=CEILING, alpha=0.7, label="exact ceiling")
        for bar, v, c in zip(bars, values, ceil, strict=True):
            if np.isfinite(v) and np.isfinite(c) and c > 0:
                ax.annotate(
                    f"{v / c:.0%}",
                    (bar.get_x() + bar.get_width() / 2, max(v, 0.0)),
                    xytext=(0, 2),
                    textcoords="offset points",
                    ha="center",
                    fontsize=7,
                )
    ax.axhline(0.0, color=TRUTH, lw=0.8)
    ax.set_xticks(x, classes, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("single-trial correlation")
    ax.grid(alpha=0.3, lw=0.5, axis="y")
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    ax.set_title("out-of-domain (bonus) classes", fontsize=10)
    return fig


def frame_correlation_figure(
    correlation_per_frame: np.ndarray,
    ceiling: np.ndarray | None = None,
    *,
    first_frame: int = SKIP_FRAMES,
    fps: float = FPS,
) -> Figure:
    """Plot the single-trial correlation against frame index (see :func:`correlation_by_frame`).

    Parameters
    ----------
    correlation_per_frame
        ``(F,)`` the model's correlation at each frame.
    ceiling
        ``(F,)`` the same with the true rates as prediction, or None.
    first_frame
        Frame index of the first value.
    fps
        Frames per second (the upper time axis).

    Returns
    -------
    matplotlib.figure.Figure
        The model's curve (and the ceiling's), each with its mean as a dashed line.
    """
    y = _vector(correlation_per_frame, "correlation_per_frame")
    c = None if ceiling is None else _vector(ceiling, "ceiling")
    if c is not None and c.shape != y.shape:
        raise ReportError(f"ceiling has {len(c)} values, expected {len(y)} (one per frame)")
    frames = first_frame + np.arange(len(y))
    fig = _figure(8.0, 3.4)
    ax = fig.subplots()
    series = [("model", y, MODEL)] + ([] if c is None else [("exact ceiling", c, CEILING)])
    for name, v, colour in series:
        mean = float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
        ax.plot(frames, v, color=colour, lw=1.0, label=f"{name} (mean {mean:.3f})")
        if np.isfinite(mean):
            ax.axhline(mean, color=colour, lw=0.8, ls="--")
    ax.set_xlim(frames[0] - 0.5, frames[-1] + 0.5)
    ax.set_xlabel("frame index")
    ax.set_ylabel("correlation over trials")
    _seconds_axis(ax, fps)
    ax.grid(alpha=0.3, lw=0.5)
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    ax.set_title("single-trial correlation against frame index", fontsize=10)
    return fig
