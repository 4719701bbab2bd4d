"""Small movies with known signal for the imaging tests."""

import numpy as np


def low_rank_movie(seed=0, frames=300, size=32):
    """A known low-rank movie: 4 smooth footprints x spiky calcium traces, plus unit noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    centres = [(8, 8), (9, 24), (22, 10), (24, 23)]
    footprints = np.stack([np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 12) for cy, cx in centres])
    kernel = np.exp(-np.arange(40) / 10)
    traces = np.stack([np.convolve(rng.random(frames) < 0.03, kernel)[:frames] for _ in centres])
    signal = 100 + 4 * np.einsum("nt,nhw->thw", traces, footprints)
    noisy = signal + rng.normal(0, 1, signal.shape)
    return signal.astype(np.float32), noisy.astype(np.float32)
