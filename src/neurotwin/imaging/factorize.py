"""Low-rank factorisation of a batch of equally sized blocks: PMD or truncated SVD.

Both modes work on the residual ``R`` (pixels x frames) of each block, already centred and
divided by each pixel's noise SD, so noise is white with unit variance. Blocks of the same
shape are processed together as one batch (torch, on the CPU or a GPU), in lockstep.

``pmd``
    Greedy rank-1 components (Buchanan et al. 2018): ``v`` initialised by power iterations on
    the block decimated 2x2 in space and 2x in time, then alternating
    ``u <- TV-denoise(R v)``, ``v <- trend-filter(R' u)`` (each normalised) for at most
    :attr:`FitSettings.iterations` steps or until ``v`` moves less than ``tolerance``; then
    ``v <- R' u`` (debias). Every component, kept or not, is subtracted from ``R``; a block
    stops after ``failures`` rejections in a row or at ``max_components`` kept ones.
``svd``
    A randomized truncated SVD (oversampling 10, one power iteration) of each block, its
    components taken in order of singular value with the same test and stopping rule.

The null test rejects a component whose spatial roughness (mean absolute difference between
4-neighbours over mean absolute value of ``u``) or temporal roughness (sum of absolute second
differences over sum of absolute values of ``v``) is above a threshold. The thresholds are
the :attr:`FitSettings.threshold_percentile`-th percentiles (5 for ``pmd``, 1 for
``svd`` by default) of the same statistics for components fitted, by the same
mode, to simulated white noise of the block's shape (:func:`null_thresholds`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as nnf

from neurotwin.imaging.config import METHODS, FitSettings
from neurotwin.imaging.noise import noise_variance
from neurotwin.imaging.penalties import trend_filter, tv_budget, tv_denoise


def spatial_roughness(u: torch.Tensor) -> torch.Tensor:
    """Return mean |difference between 4-neighbours| / mean |u| of each ``(h, w)`` image.

    Parameters
    ----------
    u
        ``(B, h, w)`` spatial factors.

    Returns
    -------
    torch.Tensor
        ``(B,)`` roughness (0 for a constant image; about 1.1 for white noise).
    """
    diffs = [(u[:, 1:] - u[:, :-1]).abs().flatten(1), (u[:, :, 1:] - u[:, :, :-1]).abs().flatten(1)]
    both = torch.cat(diffs, dim=1)
    if both.shape[1] == 0:
        return torch.zeros(u.shape[0], dtype=u.dtype, device=u.device)
    return both.mean(dim=1) / u.abs().flatten(1).mean(dim=1).clamp_min(1e-30)


def temporal_roughness(v: torch.Tensor) -> torch.Tensor:
    """Return sum |second difference| / sum |v| of each series of ``v`` ``(B, T)``."""
    d2 = v[:, 2:] - 2 * v[:, 1:-1] + v[:, :-2]
    return d2.abs().sum(dim=1) / v.abs().sum(dim=1).clamp_min(1e-30)


@dataclass
class BlockFit:
    """Result of one block: kept spatial components and every attempt's statistics.

    Attributes
    ----------
    spatial
        ``(pixels, rank)`` kept spatial factors (unit norm), in noise-normalised units.
    stats
        ``(attempts, 2)`` spatial and temporal roughness of every component tried.
    """

    spatial: np.ndarray
    stats: np.ndarray


def _decimate_space(x: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Average ``(B, pixels, C)`` over 2x2 pixels: ``(B, pixels', C)`` (one-row blocks as is)."""
    b, _, c = x.shape
    h, w = shape
    if h == 1 or w == 1:
        return x
    img = x.transpose(1, 2).reshape(b * c, 1, h, w)
    return nnf.avg_pool2d(img, 2, ceil_mode=True).reshape(b, c, -1).transpose(1, 2)


def _decimate_time(x: torch.Tensor) -> torch.Tensor:
    """Average ``(B, T)`` over pairs of frames (series of under 4 frames as they are)."""
    if x.shape[1] < 4:
        return x
    return nnf.avg_pool1d(x[:, None], 2, ceil_mode=True)[:, 0]


def _decimate(r: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Return the ``(B, pixels', T')`` block decimated 2x2 in space and 2x in time."""
    b, _, t = r.shape
    small = _decimate_space(r, shape)
    if t < 4:
        return small.contiguous()
    return nnf.avg_pool1d(small.reshape(-1, 1, t), 2, ceil_mode=True).view(b, small.shape[1], -1)


def _decimated_init(small: torch.Tensor, t: int, settings: FitSettings) -> torch.Tensor:
    """Power iterations on the decimated residual ``small`` ``(B, pixels', T')``, upsampled."""
    b, _, t_small = small.shape
    gen = torch.Generator(device="cpu").manual_seed(settings.seed)
    v = torch.randn(b, t_small, generator=gen, dtype=small.dtype).to(small.device)
    for _ in range(settings.init_iterations):
        u = torch.bmm(small, v[:, :, None])
        v = torch.bmm(small.transpose(1, 2), u)[:, :, 0]
        v = v / v.norm(dim=1, keepdim=True).clamp_min(1e-30)
    if t_small != t:
        v = v.repeat_interleave(2, dim=1)[:, :t]
    return v / v.norm(dim=1, keepdim=True).clamp_min(1e-30)


def _products(
    r: torch.Tensor, x: torch.Tensor, rows: torch.Tensor, transpose: bool
) -> torch.Tensor:
    """Return ``r[i] @ x[i]`` (or ``r[i]' @ x[i]``) for the blocks ``rows`` only.

    One batched product when every block is in ``rows``; otherwise one product per block on
    views of ``r`` (no copy of the residual, and no work for blocks that have converged).
    """
    if len(rows) == r.shape[0]:
        if transpose:
            return torch.bmm(x[:, None, :], r)[:, 0]
        return torch.bmm(r, x[:, :, None])[:, :, 0]
    if transpose:
        return torch.stack([x[i] @ r[i] for i in rows.tolist()])
    return torch.stack([r[i] @ x[i] for i in rows.tolist()])


def _rank1(
    r: torch.Tensor, small: torch.Tensor, shape: tuple[int, int], settings: FitSettings
) -> tuple[torch.Tensor, torch.Tensor]:
    """One penalised rank-1 component of each block: (u denoised, v debiased).

    ``small`` is ``r`` decimated (:func:`_decimate`), kept up to date by the caller.
    """
    b, _, t = r.shape
    v = _decimated_init(small, t, settings)
    lam_u = torch.ones(b, dtype=r.dtype, device=r.device)
    lam_v = torch.ones(b, dtype=r.dtype, device=r.device)
    u = torch.zeros(r.shape[:2], dtype=r.dtype, device=r.device)
    moving = torch.arange(b, device=r.device)  # blocks whose v has not converged yet
    for step in range(settings.iterations):
        n = len(moving)
        y = _products(r, v, moving, transpose=False).view(n, *shape)
        budget = tv_budget(y)
        if step == 0:
            lam_u = (budget / y[0].numel()).sqrt().clamp_min(1e-6)
        u_img, lam = tv_denoise(y, budget, lam_u[moving])
        lam_u[moving] = lam
        u_sub = u_img.flatten(1)
        u_sub = u_sub / u_sub.norm(dim=1, keepdim=True).clamp_min(1e-30)
        u[moving] = u_sub
        y_t = _products(r, u, moving, transpose=True)
        sigma2 = noise_variance(y_t) if t >= 16 else y_t.var(dim=1)
        if step == 0:
            lam_v = sigma2.sqrt().clamp_min(1e-6)
        v_new, lam = trend_filter(y_t, t * sigma2, lam_v[moving])
        lam_v[moving] = lam
        v_new = v_new / v_new.norm(dim=1, keepdim=True).clamp_min(1e-30)
        change = (v_new - v[moving]).norm(dim=1)
        v[moving] = v_new
        moving = moving[change >= settings.tolerance]
        if len(moving) == 0:
            break
    debiased = torch.bmm(u[:, None, :], r)[:, 0]
    return u, debiased


def _fit_pmd(
    r: torch.Tensor, shape: tuple[int, int], settings: FitSettings, thresholds: torch.Tensor
) -> list[BlockFit]:
    b, pixels, _ = r.shape
    kept: list[list[torch.Tensor]] = [[] for _ in range(b)]
    stats: list[list[torch.Tensor]] = [[] for _ in range(b)]
    misses = [0] * b
    active = list(range(b))  # the block of each row of r (finished blocks are dropped)
    small = _decimate(r, shape)
    for _ in range(2 * settings.max_components + settings.failures):
        if not active:
            break
        u, debiased = _rank1(r, small, shape, settings)
        s = torch.stack(
            [spatial_roughness(u.view(-1, *shape)), temporal_roughness(debiased)], dim=1
        )
        ok = (s <= thresholds).all(dim=1).cpu()
        # Deflate in place: r and its decimated copy (decimation is linear).
        r.baddbmm_(u[:, :, None], debiased[:, None, :], alpha=-1)
        u_small = _decimate_space(u[:, :, None], shape)
        small.baddbmm_(u_small, _decimate_time(debiased)[:, None, :], alpha=-1)
        s = s.cpu()
        rows = []
        for i, blk in enumerate(active):
            stats[blk].append(s[i])
            if ok[i]:
                kept[blk].append(u[i].cpu())
                misses[blk] = 0
            else:
                misses[blk] += 1
            if misses[blk] < settings.failures and len(kept[blk]) < settings.max_components:
                rows.append(i)
        if len(rows) < len(active):
            keep = torch.tensor(rows, dtype=torch.long, device=r.device)
            r, small = r[keep], small[keep]
            active = [active[i] for i in rows]
    return [_block_fit(k, s, pixels) for k, s in zip(kept, stats, strict=True)]


def _block_fit(kept: list[torch.Tensor], stats: list[torch.Tensor], pixels: int) -> BlockFit:
    spatial = (
        torch.stack(kept, dim=1).numpy().astype(np.float32)
        if kept
        else np.zeros((pixels, 0), np.float32)
    )
    table = torch.stack(stats).numpy() if stats else np.zeros((0, 2))
    return BlockFit(spatial, table.astype(np.float64))


def _fit_svd(
    r: torch.Tensor, shape: tuple[int, int], settings: FitSettings, thresholds: torch.Tensor
) -> list[BlockFit]:
    b, p, t = r.shape
    k = min(settings.max_components + 10, p, t)
    gen = torch.Generator(device="cpu").manual_seed(settings.seed)
    omega = torch.randn(b, t, k, generator=gen, dtype=r.dtype).to(r.device)
    q = torch.linalg.qr(torch.bmm(r, omega)).Q
    q = torch.linalg.qr(torch.bmm(r, torch.bmm(r.transpose(1, 2), q))).Q
    ub, sv, vt = torch.linalg.svd(torch.bmm(q.transpose(1, 2), r), full_matrices=False)
    u = torch.bmm(q, ub)[:, :, : settings.max_components + settings.failures]
    v = (sv[:, :, None] * vt)[:, : u.shape[2]]
    n = u.shape[2]
    s_spatial = spatial_roughness(u.transpose(1, 2).reshape(b * n, *shape)).view(b, n)
    s_temporal = temporal_roughness(v.reshape(b * n, t)).view(b, n)
    stats = torch.stack([s_spatial, s_temporal], dim=2).cpu()
    ok = (stats <= thresholds.cpu()).all(dim=2)
    fits = []
    for i in range(b):
        chosen: list[int] = []
        misses = 0
        for j in range(n):
            if ok[i, j]:
                chosen.append(j)
                misses = 0
            else:
                misses += 1
            if misses >= settings.failures or len(chosen) >= settings.max_components:
                break
        tried = j + 1
        spatial = u[i][:, chosen].cpu().numpy().astype(np.float32)
        fits.append(BlockFit(spatial, stats[i, :tried].numpy().astype(np.float64)))
    return fits


def fit_blocks(
    blocks: np.ndarray | torch.Tensor,
    shape: tuple[int, int],
    settings: FitSettings,
    thresholds: tuple[float, float],
    device: str | torch.device = "cpu",
) -> list[BlockFit]:
    """Factorise a batch of equally sized blocks.

    Parameters
    ----------
    blocks
        ``(B, pixels, frames)`` noise-normalised, centred residuals (pixels in row-major
        order of a ``shape`` block).
    shape
        ``(height, width)`` of the blocks.
    settings
        Mode and its settings.
    thresholds
        Spatial and temporal roughness above which a component is rejected
        (``(inf, inf)`` keeps everything; see :func:`null_thresholds`).
    device
        Torch device to compute on.

    Returns
    -------
    list of BlockFit
        One per block.
    """
    r = torch.as_tensor(np.asarray(blocks, dtype=np.float32)).to(device).clone()
    limit = torch.tensor(thresholds, dtype=r.dtype, device=r.device)
    # Subnormal floats (e.g. squared near-zero gradients) make CPU arithmetic ~100x slower.
    flush = torch.set_flush_denormal(True)
    try:
        if settings.method == "pmd":
            return _fit_pmd(r, shape, settings, limit)
        return _fit_svd(r, shape, settings, limit)
    finally:
        if flush:
            torch.set_flush_denormal(False)


@functools.lru_cache(maxsize=64)
def null_thresholds(
    shape: tuple[int, int], frames: int, settings: FitSettings, device: str | torch.device = "cpu"
) -> tuple[float, float]:
    """Return the roughness thresholds of the null test for blocks of ``shape`` x ``frames``.

    Fits ``settings.null_blocks`` blocks (four times as many in the cheap ``svd`` mode) of
    i.i.d. unit Gaussian noise with the same mode and returns the
    ``settings.threshold_percentile``-th percentile of the spatial and of the temporal
    roughness of their first
    ``settings.failures`` components: a kept component must be smoother than
    ``100 - percentile`` % of components fitted to noise. Only the first components count
    because they are the ones the test meets on a block of pure noise before it stops, and
    they are smoother than later ones (they capture the noise's most structured directions).

    The result depends only on the arguments (seeded noise), so it is cached per process.

    Returns
    -------
    tuple of float
        ``(spatial, temporal)`` thresholds.
    """
    gen = np.random.default_rng(settings.seed + 7919)
    pixels = shape[0] * shape[1]
    count = settings.null_blocks * (4 if settings.method == "svd" else 1)
    noise = gen.standard_normal((count, pixels, frames), dtype=np.float32)
    probe = FitSettings(
        **{**settings.to_dict(), "max_components": settings.failures, "failures": 10**6}
    )
    fits = fit_blocks(noise, shape, probe, (np.inf, np.inf), device)
    stats = np.concatenate([f.stats[: settings.failures] for f in fits])
    low = np.percentile(stats, settings.threshold_percentile, axis=0)
    return float(low[0]), float(low[1])


__all__ = ["METHODS", "BlockFit", "FitSettings", "fit_blocks", "null_thresholds"]
