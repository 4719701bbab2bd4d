"""Measures of a denoised movie: local correlations, SNR gain, error against a known signal."""

from __future__ import annotations

from typing import Any

import numpy as np

from neurotwin.imaging.noise import noise_sd


def local_correlation(movie: np.ndarray) -> np.ndarray:
    """Return each pixel's mean temporal correlation with its (up to 8) neighbours.

    Parameters
    ----------
    movie
        ``(frames, height, width)``.

    Returns
    -------
    numpy.ndarray
        ``(height, width)`` float32 image in [-1, 1]; 0 where a pixel is constant.
    """
    x = movie.astype(np.float32) - movie.mean(axis=0, dtype=np.float64).astype(np.float32)
    sd = np.sqrt((x * x).mean(axis=0))
    z = np.divide(x, sd, out=np.zeros_like(x), where=sd > 0)
    h, w = z.shape[1:]
    total = np.zeros((h, w), np.float32)
    count = np.zeros((h, w), np.float32)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy == dx == 0:
                continue
            ys, yd = slice(max(dy, 0), h + min(dy, 0)), slice(max(-dy, 0), h + min(-dy, 0))
            xs, xd = slice(max(dx, 0), w + min(dx, 0)), slice(max(-dx, 0), w + min(-dx, 0))
            total[yd, xd] += (z[:, ys, xs] * z[:, yd, xd]).mean(axis=0)
            count[yd, xd] += 1
    return total / count


def snr_gain_map(
    raw: np.ndarray, denoised: np.ndarray, truth: np.ndarray | None = None
) -> np.ndarray:
    """Return the per-pixel SNR gain ``SNR(denoised) / SNR(raw)``.

    With the true signal, each movie's noise is its difference from the truth, so the gain
    is ``SD(raw - truth) / SD(denoised - truth)``. Without it, the signal is taken to be the
    denoised movie and each movie's noise SD is its high-frequency (Welch) estimate, so the
    gain is ``noise(raw) / noise(denoised)``; pixels where nothing was kept (a constant
    denoised trace) are NaN.

    Parameters
    ----------
    raw, denoised
        ``(frames, height, width)`` movies.
    truth
        The noiseless movie, when known.

    Returns
    -------
    numpy.ndarray
        ``(height, width)`` float32 gains.
    """
    t, h, w = raw.shape
    if truth is not None:
        num = (raw - truth).std(axis=0)
        den = (denoised - truth).std(axis=0)
    else:
        num = noise_sd((raw - raw.mean(axis=0)).reshape(t, -1).T).reshape(h, w)
        den = noise_sd((denoised - denoised.mean(axis=0)).reshape(t, -1).T).reshape(h, w)
        den = np.where(denoised.std(axis=0) > 1e-6 * (np.abs(raw.mean(axis=0)) + 1), den, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where(den > 0, num / den, np.nan)
    return gain.astype(np.float32)


def _pixel_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (a * b).sum(axis=0) / np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))


def truth_metrics(
    raw: np.ndarray, denoised: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None
) -> dict[str, Any]:
    """Compare the raw and denoised movies with the true signal.

    Parameters
    ----------
    raw, denoised, truth
        ``(frames, height, width)`` movies.
    mask
        ``(height, width)`` pixels over which the correlations are also averaged (e.g. soma
        pixels); all pixels when None.

    Returns
    -------
    dict
        ``rmse_raw``, ``rmse_denoised`` (root mean squared error against the truth),
        ``snr_gain_median`` (median over pixels of :func:`snr_gain_map` with the truth),
        ``corr_raw``, ``corr_denoised`` (mean over pixels of the temporal correlation with the
        true trace) and, with ``mask``, the same correlations over it (``..._mask``).
    """
    raw = raw.astype(np.float32)
    gain = snr_gain_map(raw, denoised, truth)
    c_raw = _pixel_correlation(raw, truth)
    c_den = _pixel_correlation(denoised, truth)
    out = {
        "rmse_raw": float(np.sqrt(np.mean((raw - truth) ** 2))),
        "rmse_denoised": float(np.sqrt(np.mean((denoised - truth) ** 2))),
        "snr_gain_median": float(np.nanmedian(gain)),
        "corr_raw": float(np.nanmean(c_raw)),
        "corr_denoised": float(np.nanmean(c_den)),
    }
    if mask is not None:
        out["corr_raw_mask"] = float(np.nanmean(c_raw[mask]))
        out["corr_denoised_mask"] = float(np.nanmean(c_den[mask]))
    return out
