"""A self-contained HTML page about one denoising run (figures as base64 PNG, no network)."""

from __future__ import annotations

import os
import time
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from neurotwin import __version__
from neurotwin.imaging.compressed import Compressed
from neurotwin.imaging.metrics import local_correlation, snr_gain_map, truth_metrics
from neurotwin.imaging.movie import Movie
from neurotwin.report.html import CSS, figure_html, paragraph_html, write_html

#: Frames (from the start) that the report's images and traces use.
REPORT_FRAMES = 1000

IMAGES = (
    "Top: mean images. Bottom: each pixel's correlation with its neighbours. Cells stand out "
    "in the denoised local-correlation image; the residual should look structureless (no "
    "cell shapes), or signal was lost."
)
GAIN = (
    "Left: per-pixel SNR gain (white where no component was kept). Middle: rank of each "
    "block of the unshifted tiling. Right: ranks of all blocks of the four tilings."
)
TRACES = (
    "The three most active pixels (far apart): raw (grey), denoised (red) and, for a "
    "simulated movie, the true signal (black)."
)


def _images_figure(raw: np.ndarray, den: np.ndarray) -> Figure:
    residual = raw - den
    fig = Figure(figsize=(10, 6.4), layout="constrained")
    axes = fig.subplots(2, 3)
    for col, (name, movie) in enumerate((("raw", raw), ("denoised", den), ("residual", residual))):
        for row, (kind, image) in enumerate(
            (("mean", movie.mean(axis=0)), ("local correlation", local_correlation(movie)))
        ):
            ax = axes[row, col]
            vmin, vmax = (-0.2, 1.0) if row else (None, None)
            im = ax.imshow(image, cmap="gray" if row == 0 else "magma", vmin=vmin, vmax=vmax)
            ax.set_title(f"{name}: {kind}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def _gain_rank_figure(gain: np.ndarray, result: Compressed) -> Figure:
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    axes = fig.subplots(1, 3)
    finite = gain[np.isfinite(gain)]
    top = float(np.percentile(finite, 99)) if finite.size else 1.0
    im = axes[0].imshow(gain, cmap="viridis", vmin=0, vmax=max(top, 1.0))
    axes[0].set_title("SNR gain (denoised / raw)", fontsize=9)
    fig.colorbar(im, ax=axes[0], shrink=0.8)
    im = axes[1].imshow(result.rank_image(0), cmap="Blues")
    axes[1].set_title("rank of each block (tiling 0)", fontsize=9)
    fig.colorbar(im, ax=axes[1], shrink=0.8)
    for ax in axes[:2]:
        ax.set_xticks([])
        ax.set_yticks([])
    ranks = result.ranks
    axes[2].hist(ranks, bins=np.arange(ranks.max() + 2) - 0.5 if len(ranks) else 1, color="C0")
    axes[2].set_xlabel("rank")
    axes[2].set_ylabel("blocks (all tilings)")
    return fig


def _traces_figure(
    raw: np.ndarray, den: np.ndarray, truth: np.ndarray | None, pixels: list[tuple[int, int]]
) -> Figure:
    fig = Figure(figsize=(10, 1.9 * len(pixels)), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(pixels), 1, sharex=True))
    for ax, (r, c) in zip(axes, pixels, strict=True):
        ax.plot(raw[:, r, c], color="0.7", lw=0.6, label="raw")
        if truth is not None:
            ax.plot(truth[:, r, c], color="k", lw=1.0, label="true")
        ax.plot(den[:, r, c], color="C3", lw=0.9, label="denoised")
        ax.set_ylabel(f"({r}, {c})", fontsize=8)
    axes[0].legend(loc="upper right", fontsize=8, ncol=3)
    axes[-1].set_xlabel("frame")
    return fig


def _pick_pixels(den: np.ndarray, n: int = 3) -> list[tuple[int, int]]:
    sd = den.std(axis=0)
    order = np.argsort(sd.ravel())[::-1]
    chosen: list[tuple[int, int]] = []
    for flat in order:
        r, c = divmod(int(flat), sd.shape[1])
        if all(abs(r - a) + abs(c - b) > 6 for a, b in chosen):
            chosen.append((r, c))
        if len(chosen) == n:
            break
    return chosen or [(0, 0)]


def render_denoise_report(
    movie: Movie, result: Compressed, truth: np.ndarray | None = None, title: str | None = None
) -> str:
    """Return the report page of a run as one HTML string.

    Parameters
    ----------
    movie
        The raw movie.
    result
        Its decomposition.
    truth
        The noiseless movie (``(frames, height, width)``, e.g. a memory map of a simulated
        movie's ``signal.npy``), when known.
    title
        Page title.

    Returns
    -------
    str
        The page.
    """
    n = min(REPORT_FRAMES, movie.n_frames)
    raw = movie.read(0, n)
    den = result.reconstruct(0, n)
    true = None if truth is None else np.asarray(truth[:n], dtype=np.float32)
    gain = snr_gain_map(raw, den, true)
    summary: dict[str, Any] = {
        "movie": movie.path,
        "frames x height x width": " x ".join(str(x) for x in result.shape),
        "method": result.info.get("settings", {}).get("method", "?"),
        "block size": " x ".join(str(x) for x in result.info.get("block_size", [])),
        **{k.replace("_", " "): v for k, v in result.summary().items() if k != "shape"},
        "median noise SD": float(np.median(result.noise)),
        "median SNR gain": float(np.nanmedian(gain)),
        "seconds": result.info.get("seconds"),
    }
    if true is not None:  # with the truth, its SNR gain replaces the spectral estimate's
        metrics = truth_metrics(raw, den, true)
        summary["median SNR gain"] = metrics.pop("snr_gain_median")
        summary.update({k.replace("_", " "): v for k, v in metrics.items()})
    rows = "".join(
        f"<tr><th>{escape(k)}</th><td>{escape(f'{v:.4g}' if isinstance(v, float) else str(v))}"
        "</td></tr>"
        for k, v in summary.items()
    )
    summary_note = (
        f"Images and traces use the first {n} frames. Compression ratio = movie values over "
        "stored factor values. The SNR gain is SD(raw - true) / SD(denoised - true) when the "
        "true signal is known, else the raw movie's noise SD over the denoised movie's (both "
        "from the high-frequency power spectrum)."
    )
    sections = [
        ("Summary", [f'<table class="facts">{rows}</table>', paragraph_html(summary_note)]),
        (
            "Images",
            [
                figure_html(_images_figure(raw, den), "mean and local correlation"),
                paragraph_html(IMAGES),
            ],
        ),
        (
            "SNR gain and ranks",
            [figure_html(_gain_rank_figure(gain, result), "SNR gain"), paragraph_html(GAIN)],
        ),
        (
            "Traces",
            [
                figure_html(_traces_figure(raw, den, true, _pick_pixels(den)), "traces"),
                paragraph_html(TRACES),
            ],
        ),
    ]
    body = "\n".join(
        f"<section>\n<h2>{escape(h)}</h2>\n" + "\n".join(parts) + "\n</section>"
        for h, parts in sections
    )
    title = title or f"Denoising report: {Path(movie.path).name}"
    stamp = time.strftime("%Y-%m-%d %H:%M")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<h1>{escape(title)}</h1>\n{body}\n"
        f"<footer>Written by neurotwin {escape(__version__)} on {stamp}.</footer>\n"
        "</body>\n</html>\n"
    )


def write_denoise_report(
    path: str | os.PathLike[str],
    movie: Movie,
    result: Compressed,
    truth: np.ndarray | None = None,
) -> Path:
    """Write :func:`render_denoise_report` to ``path`` atomically.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    return write_html(path, render_denoise_report(movie, result, truth))
