"""PMD, its SVD mode and localmd 0.0.4 on the same simulated movies with known signal.

Run ``python benchmarks/pmd.py [--frames 1500 --size 96 --snr 1.0] [--localmd-python PY]``;
prints one JSON object. Each method runs in a fresh subprocess (peak RSS per method) on the
same movie file; the parent compares each denoised movie with the simulator's true signal:
SNR gain (median over pixels of SD(raw - true) / SD(denoised - true)), mean per-pixel
correlation with the true trace (all pixels and soma pixels), RMSE, compression ratio
(movie values / stored values), wall seconds, CPU seconds (user + system, all threads, of
the whole child process: steadier than wall time on a shared machine) and peak memory:
``peak_rss_gib`` (``ru_maxrss``, which also counts the pages of files mapped into the
process: localmd's reader here maps the movie) and ``peak_anon_gib`` (the anonymous memory
the run itself holds, sampled every 50 ms; ``peak_memory.py``).

localmd (PyPI 0.0.4, needs JAX) is never a dependency of neurotwin: give the Python of a
separate virtual environment where ``pip install localmd==0.0.4`` worked
(``--localmd-python``, default ``/tmp/localmd-venv/bin/python``); when it is absent the
JSON says so and the other methods still run. Both use 32 x 32 blocks, at most 20
components per block and the 5th percentile of simulated noise as thresholds (our SVD mode:
the 1st, its default); localmd also removes its default rank-15 global background first and
stops after 1 failure (its defaults).

``--streamed`` adds the case of a movie larger than memory: a ``--big`` x ``--big`` movie of
``--big-frames`` frames simulated straight to a ``.npy`` file in chunks (same neurons
throughout), denoised from that file by each of ``--big-methods`` in a fresh process, then
compared with its true signal rebuilt chunk by chunk (the same measures, from per-pixel
sums); ``--streamed-only`` skips the small case. localmd reads the same file frame range
by frame range (``tiff_batch_size=1000``: its default, 10,000, loads such a movie whole in
one batch) and fits on the
same number of frames as ours (``--window``); its saved factors rebuild its movie chunk by
chunk for the measures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

LOCALMD_SCRIPT = r"""
import json, resource, sys, time
import numpy as np
import scipy.sparse
from localmd.dataset import PMDDataset
from localmd.decomposition import localmd_decomposition

path, out, block, window = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
sys.path.insert(0, sys.argv[5])  # benchmarks/, for peak_memory
from peak_memory import AnonPeak

class Frames(PMDDataset):
    def __init__(self, p):
        self.m = np.load(p, mmap_mode="r")
    @property
    def shape(self):
        t, h, w = self.m.shape
        return (h, w, t)
    def get_frames(self, frames):
        return np.asarray(self.m[frames], dtype=np.float32).transpose(1, 2, 0)

data = Frames(path)
t0 = time.perf_counter()
with AnonPeak() as peak:
    U, R, s, Vt, std, mean, shape, order = localmd_decomposition(
        data, [block, block], [block // 2, block // 2], min(window, data.shape[2]),
        max_components=20, sim_conf=5, order="F", num_workers=0, tiff_batch_size=1000)
seconds = time.perf_counter() - t0
d1, d2, t = shape
R, s, Vt = np.asarray(R), np.asarray(s), np.asarray(Vt)
scipy.sparse.save_npz(out + ".U.npz", scipy.sparse.csr_matrix(U))
np.savez(out + ".factors.npz", Rs=R * s[None, :], Vt=Vt, std=np.asarray(std),
         mean=np.asarray(mean), shape=np.array([t, d1, d2]))
stored = U.nnz + R.size + s.size + Vt.size
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": seconds, "components": int(Vt.shape[0]),
    "compression_ratio": d1 * d2 * t / stored, "cpu_seconds": usage.ru_utime + usage.ru_stime,
    "peak_rss_gib": usage.ru_maxrss / 2**20, "peak_anon_gib": peak.peak_gib}))
"""


class LocalmdFactors:
    """localmd's saved factors; rebuilds any frame range like our compressed results.

    localmd stores the movie as ``U @ (R s) @ Vt`` on standardised pixels in Fortran order
    (``U`` sparse, pixels x components), then ``* std + mean`` per pixel.
    """

    def __init__(self, stem: str) -> None:
        import scipy.sparse

        self.U = scipy.sparse.load_npz(stem + ".U.npz")
        with np.load(stem + ".factors.npz") as f:
            self.Rs, self.Vt = f["Rs"], f["Vt"]
            self.std, self.mean = f["std"], f["mean"]
            self.shape = tuple(int(x) for x in f["shape"])

    def reconstruct(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Return localmd's denoised frames ``start:stop`` as float32 ``(n, height, width)``."""
        t, h, w = self.shape
        stop = t if stop is None else stop
        flat = self.U @ (self.Rs @ self.Vt[:, start:stop])  # (h * w, n), Fortran pixel order
        movie = np.asarray(flat).reshape((h, w, stop - start), order="F")
        movie = movie * self.std[:, :, None] + self.mean[:, :, None]
        return np.ascontiguousarray(movie.transpose(2, 0, 1), dtype=np.float32)


def localmd_python(args: argparse.Namespace) -> str | None:
    """Return the Python of the separate environment with localmd, or None without one."""
    python = args.localmd_python
    return python if python and Path(python).exists() else None


def run_localmd(python: str, movie: Path, folder: Path, block: int, window: int) -> dict:
    """Run localmd on ``movie`` in a fresh process; its factors go to ``folder``."""
    script = folder / "localmd_child.py"
    script.write_text(LOCALMD_SCRIPT)
    stem = str(folder / f"localmd-{movie.stem}")
    here = str(Path(__file__).resolve().parent)
    entry = run([python, str(script), str(movie), stem, str(block), str(window), here])
    if "error" not in entry:
        entry["factors"] = stem
    return entry


LOCALMD_MISSING = (
    "no Python with localmd at {!r}: create a separate venv and 'pip install localmd==0.0.4' "
    "there (it pulls JAX; never into neurotwin's)"
)


def child(method: str, movie: str, out: str, block: int, window: int) -> None:
    from neurotwin.imaging import FitSettings, denoise_movie
    from peak_memory import AnonPeak

    started = time.perf_counter()
    with AnonPeak() as peak:
        result = denoise_movie(
            movie, Path(out).with_suffix(".result"), block=(block, block), window=window,
            settings=FitSettings(method=method), overwrite=True,
        )  # fmt: skip
    seconds = time.perf_counter() - started
    if not out.endswith("none"):
        np.save(out, result.reconstruct())
    summary = result.summary()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "components": summary["components"],
                "rank_mean": summary["rank_mean"],
                "compression_ratio": summary["compression_ratio"],
                "cpu_seconds": usage.ru_utime + usage.ru_stime,
                "peak_rss_gib": usage.ru_maxrss / 2**20,
                "peak_anon_gib": peak.peak_gib,
                "device": result.info.get("device"),
            }
        )
    )


def run(cmd: list[str]) -> dict[str, Any]:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        frames = [line.strip() for line in lines if line.strip().startswith("File ")]
        own = [f for f in frames if "/jax/" not in f and "/torch/" not in f]  # not internals
        return {"error": lines[-1], "where": (own or frames)[-3:]}  # the innermost calls
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def quality(raw: np.ndarray, denoised: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> dict:
    from neurotwin.imaging.metrics import truth_metrics

    return {k: round(v, 4) for k, v in truth_metrics(raw, denoised, truth, mask).items()}


def simulated_case(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from neurotwin.imaging import simulate_movie, write_simulated_movie

    neurons = max(4, int(args.size**2 / 300))
    sim = simulate_movie(
        frames=args.frames, height=args.size, width=args.size, neurons=neurons, snr=args.snr
    )
    movie_path, _ = write_simulated_movie(sim, folder, "npy", overwrite=True)
    mask = sim.footprints.max(axis=0) > 0.5
    case: dict[str, Any] = {
        "movie": {"frames": args.frames, "height": args.size, "width": args.size,
                  "neurons": neurons, "snr": args.snr},
        "methods": {},
    }  # fmt: skip
    for method in ("pmd", "svd"):
        out = str(folder / f"{method}.npy")
        cmd = [sys.executable, __file__, "--child", method, "--movie", str(movie_path)]
        entry = run([*cmd, "--child-out", out, "--block", str(args.block), "--window", "2000"])
        if "error" not in entry:
            entry.update(quality(sim.movie, np.load(out), sim.signal, mask))
        case["methods"][method] = entry
    python = localmd_python(args)
    if python:
        entry = run_localmd(python, movie_path, folder, args.block, 2000)
        if "error" not in entry:
            denoised = LocalmdFactors(entry.pop("factors")).reconstruct()
            entry.update(quality(sim.movie, denoised, sim.signal, mask))
        case["methods"]["localmd-0.0.4"] = entry
    else:
        case["methods"]["localmd-0.0.4"] = {"skipped": LOCALMD_MISSING.format(args.localmd_python)}
    case["raw"] = {"rmse": round(float(np.sqrt(np.mean((sim.movie - sim.signal) ** 2))), 4)}
    return case


class _PixelStats:
    """Per-pixel sums over frames for the truth metrics of a movie seen in chunks."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.sums = {k: np.zeros(shape) for k in ("e", "e2", "x", "x2", "xy")}

    def add(self, est: np.ndarray, truth: np.ndarray) -> None:
        est = est.astype(np.float64)
        err = est - truth
        self.sums["e"] += err.sum(axis=0)
        self.sums["e2"] += np.square(err).sum(axis=0)
        self.sums["x"] += est.sum(axis=0)
        self.sums["x2"] += np.square(est).sum(axis=0)
        self.sums["xy"] += (est * truth).sum(axis=0)


def _streamed_metrics(sim: Any, results: dict[str, Any], chunk: int = 250) -> dict[str, Any]:
    """Truth metrics of the raw and each denoised movie, one chunk of frames at a time."""
    movie = np.load(sim.path, mmap_mode="r")
    t, h, w = movie.shape
    stats = {name: _PixelStats((h, w)) for name in ["raw", *results]}
    truth_sums = {k: np.zeros((h, w)) for k in ("y", "y2")}
    for a in range(0, t, chunk):
        b = min(a + chunk, t)
        truth = sim.signal(a, b).astype(np.float64)
        truth_sums["y"] += truth.sum(axis=0)
        truth_sums["y2"] += np.square(truth).sum(axis=0)
        stats["raw"].add(np.asarray(movie[a:b]), truth)
        for name, result in results.items():
            stats[name].add(result.reconstruct(a, b), truth)

    def sd_err(s: _PixelStats) -> np.ndarray:
        return np.sqrt(np.maximum(s.sums["e2"] / t - (s.sums["e"] / t) ** 2, 0))

    def corr(s: _PixelStats) -> np.ndarray:
        cov = s.sums["xy"] / t - s.sums["x"] * truth_sums["y"] / t**2
        vx = s.sums["x2"] / t - (s.sums["x"] / t) ** 2
        vy = truth_sums["y2"] / t - (truth_sums["y"] / t) ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            return cov / np.sqrt(vx * vy)

    raw_sd, raw_corr = sd_err(stats["raw"]), corr(stats["raw"])
    out: dict[str, Any] = {
        "raw": {
            "rmse": round(float(np.sqrt(stats["raw"].sums["e2"].sum() / (t * h * w))), 4),
            "corr": round(float(np.nanmean(raw_corr)), 4),
            "corr_mask": round(float(np.nanmean(raw_corr[sim.mask])), 4),
        }
    }
    for name in results:
        s = stats[name]
        c = corr(s)
        with np.errstate(divide="ignore", invalid="ignore"):
            gain = np.where(sd_err(s) > 0, raw_sd / sd_err(s), np.nan)
        out[name] = {
            "snr_gain_median": round(float(np.nanmedian(gain)), 4),
            "rmse_denoised": round(float(np.sqrt(s.sums["e2"].sum() / (t * h * w))), 4),
            "corr_denoised": round(float(np.nanmean(c)), 4),
            "corr_denoised_mask": round(float(np.nanmean(c[sim.mask])), 4),
        }
    return out


def streamed_case(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Simulate the big movie straight to disk in chunks; denoise it from disk by each method."""
    from neurotwin.imaging import load_compressed
    from neurotwin.imaging.simulate import write_streamed_movie

    started = time.perf_counter()
    n = args.big**2 // 300
    sim = write_streamed_movie(
        folder / "big.npy", frames=args.big_frames, height=args.big, width=args.big,
        neurons=n, snr=args.snr,
    )  # fmt: skip
    out: dict[str, Any] = {
        "movie": {"frames": args.big_frames, "height": args.big, "width": args.big,
                  "neurons": n, "snr": args.snr, "gigabytes": round(4 * args.big_frames
                  * args.big**2 / 2**30, 2)},
        "write_seconds": round(time.perf_counter() - started, 1),
        "window": args.window,
        "methods": {},
    }  # fmt: skip
    results: dict[str, Any] = {}
    for method in args.big_methods.split(","):
        if method == "localmd":
            python = localmd_python(args)
            if python is None:
                out["methods"]["localmd-0.0.4"] = {
                    "skipped": LOCALMD_MISSING.format(args.localmd_python)
                }
                continue
            entry = run_localmd(python, sim.path, folder, 32, args.window)
            if "error" not in entry:
                results["localmd-0.0.4"] = LocalmdFactors(entry.pop("factors"))
            out["methods"]["localmd-0.0.4"] = entry
        else:
            stem = folder / f"big-{method}"
            cmd = [sys.executable, __file__, "--child", method, "--movie", str(sim.path)]
            cmd += ["--child-out", f"{stem}.none", "--block", "32", "--window", str(args.window)]
            out["methods"][method] = run(cmd)
            if "error" not in out["methods"][method]:
                results[method] = load_compressed(f"{stem}.result")
        print(json.dumps(out), file=sys.stderr, flush=True)  # partial results, as they come
    started = time.perf_counter()
    metrics = _streamed_metrics(sim, results)
    out["raw"] = metrics.pop("raw")
    for method, entry in metrics.items():
        out["methods"][method].update(entry)
    out["metrics_seconds"] = round(time.perf_counter() - started, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=1500)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--snr", type=float, default=1.0)
    parser.add_argument("--block", type=int, default=32)
    parser.add_argument("--localmd-python", default="/tmp/localmd-venv/bin/python")
    parser.add_argument("--streamed", action="store_true")
    parser.add_argument("--big", type=int, default=512)
    parser.add_argument("--big-frames", type=int, default=10000)
    parser.add_argument(
        "--big-methods", default="svd,pmd,localmd", help="methods of --streamed (svd,pmd,localmd)"
    )
    parser.add_argument("--streamed-only", action="store_true", help="skip the small case")
    parser.add_argument(
        "--workdir", help="keep the movies and results in this folder (default: a temporary one)"
    )
    parser.add_argument("--child", choices=["pmd", "svd"], help=argparse.SUPPRESS)
    parser.add_argument("--movie", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    parser.add_argument("--window", type=int, default=2000, help="frames fitted (2000)")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.movie, args.child_out, args.block, args.window)
        return
    report: dict[str, Any] = {"cpus": os.cpu_count()}
    with contextlib.ExitStack() as stack:
        if args.workdir:
            folder = Path(args.workdir)
            folder.mkdir(parents=True, exist_ok=True)
        else:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if not args.streamed_only:
            report["simulated"] = simulated_case(args, folder)
        if args.streamed or args.streamed_only:
            report["streamed"] = streamed_case(args, folder)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
