"""Per-pixel noise level from the high-frequency power spectrum (Welch).

PMD (Buchanan et al. 2018, bioRxiv 334706) takes each pixel's noise variance as the mean of
its power spectral density over the upper half of the band (normalised frequencies 0.25 to
0.5), where calcium signals have almost no power: Welch's method with segments of 256 frames,
overlap 128, Hann window, each segment's mean removed. For white noise of variance
``s**2`` the (two-sided) density is ``s**2`` at every frequency, so the estimate is unbiased.
"""

from __future__ import annotations

import numpy as np
import torch

#: Welch segment length and overlap (frames); shorter series use one segment of their length.
SEGMENT = 256
OVERLAP = 128
#: The band whose mean power is the noise variance, in cycles per frame.
BAND = (0.25, 0.5)
#: Fewest frames the estimate accepts.
MIN_FRAMES = 64


def noise_variance(x: torch.Tensor) -> torch.Tensor:
    """Return the noise variance of each row of ``x`` from its high-frequency power.

    Parameters
    ----------
    x
        ``(..., T)`` time series (float32 or float64), ``T >= MIN_FRAMES``.

    Returns
    -------
    torch.Tensor
        ``(...)`` variances, same dtype and device.
    """
    n = x.shape[-1]
    seg = min(SEGMENT, n)
    step = seg - OVERLAP if seg == SEGMENT else seg
    pieces = x.unfold(-1, seg, step)  # (..., segments, seg)
    pieces = pieces - pieces.mean(dim=-1, keepdim=True)
    window = torch.hann_window(seg, periodic=True, dtype=x.dtype, device=x.device)
    spectrum = torch.fft.rfft(pieces * window, dim=-1)
    freqs = torch.fft.rfftfreq(seg, device=x.device)
    band = (freqs >= BAND[0]) & (freqs <= BAND[1])
    power = spectrum[..., band].abs().square().mean(dim=(-1, -2))
    return power / window.square().sum()


def noise_sd(series: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """Return the noise standard deviation of each row of ``series`` (Welch PSD, upper band).

    Parameters
    ----------
    series
        ``(N, T)`` time series, one per row (e.g. pixels x frames).
    chunk
        Rows per batch (bounds the memory of the FFT).

    Returns
    -------
    numpy.ndarray
        ``(N,)`` float32 noise standard deviations, in the unit of ``series``.

    Raises
    ------
    ValueError
        When ``T < MIN_FRAMES`` (callers turn this into a message naming the file).
    """
    if series.shape[-1] < MIN_FRAMES:
        raise ValueError(f"{series.shape[-1]} frames; the noise estimate needs {MIN_FRAMES}")
    out = np.empty(series.shape[0], dtype=np.float32)
    for a in range(0, series.shape[0], chunk):
        block = torch.from_numpy(np.ascontiguousarray(series[a : a + chunk], dtype=np.float64))
        out[a : a + chunk] = noise_variance(block).sqrt().numpy()
    return out
