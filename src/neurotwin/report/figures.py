"""The report's figures, each a function of plain arrays returning a matplotlib Figure.

The figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot), so drawing
them neither needs a display nor changes the backend of the caller's own plots. In a
notebook, show one with ``display(fig)``; save one with ``fig.savefig(path)``.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from neurotwin.report.data import ReportError

MODEL = "tab:blue"
TRUTH = "black"
CEILING = "tab:orange"
RESPONSES = "0.55"


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)  # rendering needs no display and leaves pyplot's backend alone
    return fig


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """Render ``fig`` as PNG bytes (without the software tag, so no URL is embedded)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


# ---------------------------------------------------------------------- learning curve
def _series(curve: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    return np.asarray(
        [np.nan if e.get(key) is None else float(e[key]) for e in curve], dtype=np.float64
    )


def lr_decays(curve: Sequence[Mapping[str, Any]]) -> list[tuple[float, float]]:
    """Return ``(epoch, new lr)`` of every epoch whose learning rate is below the previous one."""
    epochs, lr = _series(curve, "epoch"), _series(curve, "lr")
    return [
        (float(epochs[i]), float(lr[i]))
        for i in range(1, len(lr))
        if np.isfinite(lr[i]) and np.isfinite(lr[i - 1]) and lr[i] < lr[i - 1]
    ]


def learning_curve_figure(curve: Sequence[Mapping[str, Any]]) -> Figure:
    """Draw the training loss and validation correlation per epoch, learning-rate decays marked.

    Parameters
    ----------
    curve
        One mapping per epoch with ``epoch`` and any of ``train_loss``,
        ``validation_correlation`` and ``lr`` (missing or None values leave gaps).

    Returns
    -------
    matplotlib.figure.Figure
        Two panels sharing the epoch axis: loss above, validation correlation below; dashed
        lines at learning-rate decays, a star at the best validation epoch.
    """
    if len(curve) == 0:
        raise ReportError("the learning curve has no epochs")
    epochs = _series(curve, "epoch")
    loss = _series(curve, "train_loss")
    corr = _series(curve, "validation_correlation")
    fig = _figure(8.0, 4.6)
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.plot(epochs, loss, "o-", color=TRUTH, ms=3, lw=1.2)
    top.set_ylabel("training loss")
    bottom.plot(epochs, corr, "o-", color=MODEL, ms=3, lw=1.2)
    bottom.set_ylabel("validation correlation")
    bottom.set_xlabel("epoch")
    if np.isfinite(corr).any():
        best = int(np.nanargmax(corr))
        bottom.plot(
            epochs[best],
            corr[best],
            "*",
            color=CEILING,
            ms=14,
            label=f"best: {corr[best]:.3f} (epoch {epochs[best]:g})",
        )
        bottom.legend(loc="lower right", fontsize=8, frameon=False)
    for epoch, lr in lr_decays(curve):
        for ax in (top, bottom):
            ax.axvline(epoch - 0.5, color="0.5", ls="--", lw=0.8)
        top.annotate(
            f"lr {lr:.2g}",
            (epoch - 0.5, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, -2),
            textcoords="offset points",
            fontsize=7,
            color="0.35",
            va="top",
        )
    for ax in (top, bottom):
        ax.grid(alpha=0.3, lw=0.5)
    top.set_title("learning curve (dashed: learning-rate decay)", fontsize=10)
    return fig


# ---------------------------------------------------------------------- per-neuron accuracy
def ceiling_scatter_figure(
    correlation: np.ndarray, ceiling: np.ndarray, *, reference: float = 0.7
) -> Figure:
    """Plot each neuron's correlation against its ceiling, with the identity and a reference line.

    Parameters
    ----------
    correlation
        ``(n,)`` the model's per-neuron correlation.
    ceiling
        ``(n,)`` the per-neuron ceiling of the same metric.
    reference
        Draw the line ``model = reference * ceiling`` too (None for none).

    Returns
    -------
    matplotlib.figure.Figure
        The scatter with the ratio of the means in the title.
    """
    x = np.asarray(ceiling, np.float64)
    y = np.asarray(correlation, np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ReportError(f"ceiling {x.shape} and correlation {y.shape} must be the same (n,)")
    ok = np.isfinite(x) & np.isfinite(y)
    fig = _figure(4.8, 4.6)
    ax = fig.subplots()
    n = int(ok.sum())
    ax.scatter(x[ok], y[ok], s=_marker_size(n), color=MODEL, alpha=0.5, lw=0, rasterized=True)
    both = np.concatenate([x[ok], y[ok], [0.0, 0.1]])
    lo, hi = min(0.0, float(both.min())), float(both.max()) * 1.05
    ax.plot([lo, hi], [lo, hi], color=TRUTH, lw=1, label="model = ceiling")
    if reference is not None:
        ax.plot(
            [lo, hi],
            [reference * lo, reference * hi],
            color=TRUTH,
            lw=1,
            ls="--",
            label=f"{reference:.0%} of ceiling",
        )
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel("ceiling")
    ax.set_ylabel("model")
    ax.grid(alpha=0.3, lw=0.5)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    if n:
        fraction = y[ok].mean() / x[ok].mean() if x[ok].mean() != 0 else np.nan
        ax.set_title(f"{n} neurons: model / ceiling = {fraction:.1%}", fontsize=10)
    dropped = len(x) - n
    if dropped:
        ax.text(
            0.98,
            0.02,
            f"{dropped} undefined left out",
            transform=ax.transAxes,
            ha="right",
            fontsize=7,
            color="0.4",
        )
    return fig


def correlation_histogram_figure(
    correlation: np.ndarray, ceiling: np.ndarray | None = None, *, bins: int = 40
) -> Figure:
    """Plot the histogram of per-neuron correlations, and of the ceilings when known.

    Parameters
    ----------
    correlation
        ``(n,)`` the model's per-neuron correlation.
    ceiling
        ``(n,)`` the ceilings, or None.
    bins
        Number of bins (shared by both histograms).

    Returns
    -------
    matplotlib.figure.Figure
        The histograms with each mean marked.
    """
    y = np.asarray(correlation, np.float64).ravel()
    series = [("model", y[np.isfinite(y)], MODEL)]
    if ceiling is not None:
        c = np.asarray(ceiling, np.float64).ravel()
        series.append(("ceiling", c[np.isfinite(c)], CEILING))
    values = np.concatenate([s[1] for s in series] + [np.zeros(1)])
    edges = np.linspace(min(0.0, float(values.min())), max(float(values.max()), 0.1), bins + 1)
    fig = _figure(4.8, 4.6)
    ax = fig.subplots()
    for name, v, colour in series:
        if not len(v):
            continue
        ax.hist(v, edges.tolist(), color=colour, alpha=0.45, label=f"{name} (mean {v.mean():.3f})")
        ax.axvline(v.mean(), color=colour, lw=1.5)
    ax.set_xlabel("per-neuron single-trial correlation")
    ax.set_ylabel("neurons")
    ax.grid(alpha=0.3, lw=0.5)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    ax.set_title("distribution over neurons", fontsize=10)
    return fig


def _marker_size(n: int) -> float:
    return float(np.clip(3000.0 / max(n, 1), 2.0, 30.0))


# ---------------------------------------------------------------------- traces
def traces_figure(
    prediction: np.ndarray,
    responses: np.ndarray,
    labels: Sequence[str] | None = None,
    true_rate: np.ndarray | None = None,
    *,
    sort: bool = True,
    max_trials: int | None = None,
) -> Figure:
    """Plot predicted, true and recorded responses of a few neurons over test trials.

    Parameters
    ----------
    prediction
        ``(trials, k)`` the model's prediction.
    responses
        ``(trials, k)`` the recorded single-trial responses.
    labels
        ``k`` neuron names for the panel titles.
    true_rate
        ``(trials, k)`` the simulator's true rate, or None.
    sort
        Order each neuron's trials by its true rate (by the prediction when no true rate
        is given); otherwise keep the trials in their order.
    max_trials
        Show only the first trials (applied before sorting).

    Returns
    -------
    matplotlib.figure.Figure
        One panel per neuron: responses as dots, true rate and prediction as lines.
    """
    pred = np.atleast_2d(np.asarray(prediction, np.float64).T).T
    resp = np.atleast_2d(np.asarray(responses, np.float64).T).T
    rate = None if true_rate is None else np.atleast_2d(np.asarray(true_rate, np.float64).T).T
    if resp.shape != pred.shape or (rate is not None and rate.shape != pred.shape):
        raise ReportError("prediction, responses and true_rate must have one (trials, k) shape")
    if max_trials is not None:
        pred, resp = pred[:max_trials], resp[:max_trials]
        rate = None if rate is None else rate[:max_trials]
    trials, k = pred.shape
    names = [f"neuron {i}" for i in range(k)] if labels is None else [str(x) for x in labels]
    cols = 1 if k == 1 else 2
    rows = -(-k // cols)
    fig = _figure(9.0, 0.4 + 2.2 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    key_name = "true rate" if rate is not None else "prediction"
    for i in range(k):
        ax: Axes = axes[i]
        key = rate[:, i] if rate is not None else pred[:, i]
        order = np.argsort(key, kind="stable") if sort else np.arange(trials)
        x = np.arange(trials)
        ax.plot(x, resp[order, i], ".", color=RESPONSES, ms=2.5, label="responses")
        if rate is not None:
            ax.plot(x, rate[order, i], color=TRUTH, lw=1.4, label="true rate")
        ax.plot(x, pred[order, i], color=MODEL, lw=1.0, alpha=0.9, label="model")
        ax.set_title(names[i] if i < len(names) else f"neuron {i}", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, lw=0.5)
        if i % cols == 0:
            ax.set_ylabel("response", fontsize=8)
        if i >= k - cols:
            ax.set_xlabel(
                f"test trial (sorted by {key_name})" if sort else "test trial", fontsize=8
            )
    for ax in axes[k:]:
        ax.set_visible(False)
    axes[0].legend(loc="upper left", fontsize=7, frameon=False)
    return fig


# ---------------------------------------------------------------------- receptive fields
def rf_distances(model: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Return each neuron's distance in pixels between model and true receptive-field centre."""
    a, b = np.asarray(model, np.float64), np.asarray(true, np.float64)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] != 2:
        raise ReportError(f"positions {a.shape} and {b.shape} must both be (n, 2)")
    return np.asarray(np.hypot(*(a - b).T))


def receptive_field_figure(
    model: np.ndarray,
    true: np.ndarray | None = None,
    image_hw: tuple[int, int] | None = None,
    image: np.ndarray | None = None,
    *,
    max_drawn: int = 600,
) -> Figure:
    """Draw the model's receptive-field centres against the simulator's true retinotopy.

    Parameters
    ----------
    model
        ``(n, 2)`` the model's centres, (row, col) in image pixels.
    true
        ``(n, 2)`` the true centres, or None (then only the model's are drawn).
    image_hw
        (height, width) of the image; the axes show the whole image.
    image
        ``(h, w)`` a stimulus drawn, faint, underneath.
    max_drawn
        Draw at most this many neurons (a fixed random subset) in the image plane, which
        stays legible and small; the distance histogram uses every neuron.

    Returns
    -------
    matplotlib.figure.Figure
        The image plane with both sets of centres and a line joining each neuron's pair,
        and (with ``true``) the histogram of the distances.
    """
    m = np.asarray(model, np.float64)
    if m.ndim != 2 or m.shape[1] != 2:
        raise ReportError(f"model positions have shape {m.shape}, expected (n, 2)")
    t = None if true is None else np.asarray(true, np.float64)
    if image_hw is None and image is not None:
        image_hw = (int(np.shape(image)[-2]), int(np.shape(image)[-1]))
    if t is not None:
        fig = _figure(10.0, 4.0)
        ax, hist = fig.subplots(1, 2, width_ratios=[3, 1])
    else:
        fig = _figure(7.5, 4.0)
        ax, hist = fig.subplots(), None
    if image is not None:
        h, w = np.shape(image)[-2:]
        ax.imshow(
            np.reshape(image, (h, w)),
            cmap="gray",
            alpha=0.45,
            extent=(-0.5, w - 0.5, h - 0.5, -0.5),
        )
    shown = np.arange(len(m))
    if len(m) > max_drawn:
        shown = np.sort(np.random.default_rng(0).choice(len(m), max_drawn, replace=False))
    full_m, full_t = m, t
    m = m[shown]
    t = None if t is None else t[shown]
    size = _marker_size(len(m))
    if t is not None:
        segments = np.stack([m[:, ::-1], t[:, ::-1]], axis=1)  # (n, 2 points, (x, y))
        ax.add_collection(LineCollection(list(segments), colors="0.3", linewidths=0.5, alpha=0.6))
        ax.scatter(
            t[:, 1],
            t[:, 0],
            s=size,
            facecolors="none",
            edgecolors=TRUTH,
            lw=0.7,
            label="true centre",
        )
    ax.scatter(m[:, 1], m[:, 0], s=size, color=MODEL, marker="x", lw=0.8, label="model")
    if image_hw is not None:
        h, w = image_hw
        ax.set_xlim(-0.5, w - 0.5)
        ax.set_ylim(h - 0.5, -0.5)
    else:
        ax.invert_yaxis()
    ax.set_aspect("equal")
    ax.set_xlabel("column (pixels)")
    ax.set_ylabel("row (pixels)")
    ax.legend(loc="upper right", fontsize=8, framealpha=0.8)
    subset = f" ({len(shown)} of {len(full_m)} neurons)" if len(shown) < len(full_m) else ""
    ax.set_title(f"receptive-field centres in the image{subset}", fontsize=10)
    if hist is not None and full_t is not None:
        d = rf_distances(full_m, full_t)
        d = d[np.isfinite(d)]
        if len(d):
            hist.hist(d, bins=30, color=MODEL, alpha=0.6)
            hist.axvline(float(np.median(d)), color=TRUTH, lw=1.2)
            hist.set_title(f"distance: median {np.median(d):.1f} px", fontsize=10)
        hist.set_xlabel("model to true (pixels)")
        hist.set_ylabel("neurons")
        hist.grid(alpha=0.3, lw=0.5)
    return fig
