"""The two denoisers of PMD's rank-1 step, batched over blocks, in constrained form.

- Spatial factors: total-variation denoising (isotropic, Chambolle's 2004 dual projection
  algorithm) of images ``y``: ``min ||x - y||^2 / 2 + lam * TV(x)``.
- Temporal factors: second-order (l1) trend filtering (Kim, Koh, Boyd & Gorinevsky 2009)
  of series ``y``: ``min ||x - y||^2 / 2 + lam * ||D2 x||_1``, solved by ADMM whose linear
  step ``(I + rho D2' D2)`` is a banded system (factored once per call on the CPU).

PMD sets each penalty by a noise budget instead of by hand: ``lam`` is rescaled during the
iterations until ``||x - y||^2`` equals the budget within :data:`CONSTRAINT_TOL`. The
residual grows like ``lam**2`` for small ``lam``, so each rescaling multiplies ``lam`` by
``(budget / residual) ** 0.5`` (clipped to a factor of 4 per step).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse
import torch
import torch.nn.functional as nnf

#: Relative tolerance of the constraint ``||x - y||^2 = budget``.
CONSTRAINT_TOL = 0.02


def _rescale(lam: torch.Tensor, residual: torch.Tensor, budget: torch.Tensor) -> torch.Tensor:
    ratio = (budget / residual.clamp_min(1e-30)).clamp(1 / 16, 16)
    off = (ratio - 1).abs() > CONSTRAINT_TOL
    return torch.where(off, lam * ratio.sqrt(), lam)


# ---------------------------------------------------------------------- total variation
def _grad(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    gr = nnf.pad(x[:, 1:, :] - x[:, :-1, :], (0, 0, 0, 1))
    gc = nnf.pad(x[:, :, 1:] - x[:, :, :-1], (0, 1, 0, 0))
    return gr, gc


def _div(pr: torch.Tensor, pc: torch.Tensor) -> torch.Tensor:
    dr = torch.cat([pr[:, :1], pr[:, 1:-1] - pr[:, :-2], -pr[:, -2:-1]], dim=1)
    dc = torch.cat([pc[:, :, :1], pc[:, :, 1:-1] - pc[:, :, :-2], -pc[:, :, -2:-1]], dim=2)
    if pr.shape[1] == 1:
        dr = torch.zeros_like(pr)
    if pc.shape[2] == 1:
        dc = torch.zeros_like(pc)
    return dr + dc


def tv_budget(y: torch.Tensor) -> torch.Tensor:
    """Return PMD's spatial noise budget ``d * delta`` of each image of ``y``.

    ``delta`` is the 25th percentile over pixels of the squared deviation of each pixel from
    the mean of its 5x5 neighbourhood; ``d`` is the number of pixels.

    Parameters
    ----------
    y
        ``(B, h, w)`` images.

    Returns
    -------
    torch.Tensor
        ``(B,)`` budgets.
    """
    local = nnf.avg_pool2d(y[:, None], 5, stride=1, padding=2, count_include_pad=False)[:, 0]
    dev = (y - local).square().flatten(1)
    return torch.quantile(dev, 0.25, dim=1) * dev.shape[1]


def tv_denoise(
    y: torch.Tensor, budget: torch.Tensor, lam: torch.Tensor, iterations: int = 24
) -> tuple[torch.Tensor, torch.Tensor]:
    """Total-variation denoise each image with its penalty set by ``||x - y||^2 = budget``.

    Parameters
    ----------
    y
        ``(B, h, w)`` images.
    budget
        ``(B,)`` allowed squared distance from ``y``.
    lam
        ``(B,)`` starting penalties (e.g. those of the previous call).
    iterations
        Dual-projection steps; the penalty is rescaled every 8.

    Returns
    -------
    x, lam
        The denoised ``(B, h, w)`` images and the penalties reached.
    """
    pr = torch.zeros_like(y)
    pc = torch.zeros_like(y)
    tau = 0.25
    for k in range(iterations):
        gr, gc = _grad(_div(pr, pc) - y / lam[:, None, None])
        norm = (gr.square() + gc.square()).sqrt()
        pr = (pr + tau * gr) / (1 + tau * norm)
        pc = (pc + tau * gc) / (1 + tau * norm)
        if k % 8 == 7 and k < iterations - 1:
            step = lam[:, None, None] * _div(pr, pc)
            lam = _rescale(lam, step.square().sum(dim=(1, 2)), budget)
    return y - lam[:, None, None] * _div(pr, pc), lam


# ---------------------------------------------------------------------- trend filtering
def _d2(x: torch.Tensor) -> torch.Tensor:
    return x[:, 2:] - 2 * x[:, 1:-1] + x[:, :-2]


def _d2t(z: torch.Tensor) -> torch.Tensor:
    zp = nnf.pad(z, (2, 2))
    return zp[:, 2:] - 2 * zp[:, 1:-1] + zp[:, :-2]


def banded_on(device: torch.device) -> bool:
    """Return whether the trend filter's linear step uses the banded (LAPACK) solver.

    True on the CPU; on other devices (CUDA) the step multiplies by the precomputed dense
    inverse instead, in torch. Tests patch this to run that GPU code path on the CPU.
    """
    return device.type == "cpu"


class _BandedSolve:
    """Solve ``(I + rho D2' D2) x = b`` for a batch of right-hand sides."""

    def __init__(self, n: int, rho: float, device: torch.device) -> None:
        d = scipy.sparse.diags([1.0, -2.0, 1.0], [0, 1, 2], shape=(n - 2, n))
        a = (scipy.sparse.identity(n) + rho * (d.T @ d)).todia()
        self.banded = banded_on(device)
        if self.banded:
            bands = np.zeros((3, n))
            for off in (0, 1, 2):
                bands[2 - off, off:] = a.diagonal(off)
            self.factor = scipy.linalg.cholesky_banded(bands)
        else:
            dense = torch.tensor(a.toarray(), dtype=torch.float64, device=device)
            self.inverse = torch.linalg.inv(dense).to(torch.float32)

    def __call__(self, b: torch.Tensor) -> torch.Tensor:
        if self.banded:
            x = scipy.linalg.cho_solve_banded(
                (self.factor, False), b.double().numpy().T, check_finite=False
            )
            return torch.from_numpy(np.ascontiguousarray(x.T)).to(b.dtype)
        return b @ self.inverse


def trend_filter(
    y: torch.Tensor, budget: torch.Tensor, lam: torch.Tensor, iterations: int = 30
) -> tuple[torch.Tensor, torch.Tensor]:
    """Second-order trend-filter each series with its penalty set by ``||x - y||^2 = budget``.

    Parameters
    ----------
    y
        ``(B, T)`` series, ``T >= 3``.
    budget
        ``(B,)`` allowed squared distance from ``y`` (PMD: ``T * sigma**2``).
    lam
        ``(B,)`` starting penalties.
    iterations
        ADMM steps; the penalty is rescaled every 10.

    Returns
    -------
    x, lam
        The filtered ``(B, T)`` series and the penalties reached.
    """
    rho = float(lam.median())
    solve = _BandedSolve(y.shape[1], rho, y.device)
    z = _d2(y)
    u = torch.zeros_like(z)
    x = y
    for k in range(iterations):
        x = solve(y + rho * _d2t(z - u))
        dx = _d2(x)
        shrink = (lam / rho)[:, None]
        w = dx + u
        z = torch.sign(w) * (w.abs() - shrink).clamp_min(0)
        u = u + dx - z
        if k % 10 == 9 and k < iterations - 1:
            lam = _rescale(lam, (x - y).square().sum(dim=1), budget)
    return x, lam
