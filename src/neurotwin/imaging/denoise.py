"""Denoise and compress a movie by PMD (or truncated SVD), block by block, in three passes.

1. Mean image over all frames (streamed in chunks of frames).
2. On a window of the first frames: each pixel's noise SD (:mod:`neurotwin.imaging.noise`),
   then the residual ``(movie - mean) / noise`` cut into the blocks of four tilings, blocks of
   equal shape factorised together (:func:`neurotwin.imaging.factorize.fit_blocks`), as tasks
   run by threads on this machine or by a ``dask.distributed`` cluster.
3. The whole movie regressed onto each block's spatial factors (least squares, streamed in
   chunks of frames) for the temporal factors, written straight into the result.

Sources: Buchanan et al. (2018) for the method; localmd (fitting the spatial basis on a
window of frames, then regressing every frame onto it) for the window.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurotwin.imaging.blocks import Block, make_blocks
from neurotwin.imaging.compressed import (
    Compressed,
    check_output,
    finish,
    staging_folder,
    write_arrays,
)
from neurotwin.imaging.errors import MovieError
from neurotwin.imaging.factorize import METHODS, BlockFit, FitSettings, fit_blocks, null_thresholds
from neurotwin.imaging.movie import Movie, open_movie
from neurotwin.imaging.noise import MIN_FRAMES, noise_sd
from neurotwin.progress import progress_bar

#: Frames read at a time in the streamed passes.
CHUNK = 500
#: Blocks per task (larger batches spread torch's per-call overhead over more blocks).
BATCH = 64
#: Tasks in flight per worker (bounds the memory of blocks copied out of the window).
IN_FLIGHT = 2


@dataclass(frozen=True)
class _Task:
    shape: tuple[int, int]
    indices: list[int]
    data: np.ndarray  # (B, pixels, frames)
    thresholds: tuple[float, float]


def _run_task(task: _Task, settings: FitSettings, device: str) -> tuple[list[int], list[BlockFit]]:
    if device == "cpu":
        _single_thread()
    _load_cuda_linalg(device)  # on every worker thread, local or dask
    return task.indices, fit_blocks(task.data, task.shape, settings, task.thresholds, device)


def _single_thread() -> None:
    # A block's tensors are small: torch's intra-op threads only contend (up to 200x slower
    # on a busy machine), so parallelism comes from running blocks on separate threads.
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def _thresholds(
    shapes: list[tuple[int, int]], frames: int, settings: FitSettings, device: str, workers: int
) -> dict[tuple[int, int], tuple[float, float]]:
    def one(shape: tuple[int, int]) -> tuple[float, float]:
        if device == "cpu":
            _single_thread()
        _load_cuda_linalg(device)
        return null_thresholds(shape, frames, settings, device)

    with ThreadPoolExecutor(max(1, workers)) as pool:
        return dict(zip(shapes, pool.map(one, shapes), strict=True))


def _device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


_CUDA_LINALG_LOCK = threading.Lock()
_cuda_linalg_loaded: set[str] = set()


def _load_cuda_linalg(device: str) -> None:
    """Load torch's CUDA linear algebra once per process, under a lock, before a thread uses it.

    torch loads that library on the first linear-algebra call on a GPU, and two threads
    making their first call at once fail ("lazy wrapper should be called at most once",
    seen with torch 2.11 on an H200).
    """
    if not device.startswith("cuda"):
        return
    with _CUDA_LINALG_LOCK:
        if device in _cuda_linalg_loaded:
            return
        eye = torch.eye(2, device=device)
        torch.linalg.qr(eye)
        torch.linalg.svd(eye)
        torch.linalg.inv(eye)
        _cuda_linalg_loaded.add(device)


def _chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for a in range(0, n, size):
        yield a, min(a + size, n)


def check_block_size(movie: Movie, block: tuple[int, int]) -> None:
    """Raise :class:`MovieError` (naming the file) when ``block`` does not fit the movie."""
    _, h, w = movie.shape
    bh, bw = block
    if not (4 <= bh <= h and 4 <= bw <= w):
        raise MovieError(
            f"{movie.path}: block size {bh} x {bw} does not fit the {h} x {w} field of view "
            "(each side must be at least 4 and at most the frame's)"
        )


def _mean_image(movie: Movie, chunk: int, bar: Any) -> np.ndarray:
    total = np.zeros(movie.shape[1:], dtype=np.float64)
    for a, b in _chunks(movie.n_frames, chunk):
        total += movie.read(a, b).sum(axis=0, dtype=np.float64)
        bar.update(b - a)
    return (total / movie.n_frames).astype(np.float32)


def _noise_image(movie: Movie, centred: np.ndarray, mean: np.ndarray) -> np.ndarray:
    t, h, w = centred.shape
    sd = noise_sd(centred.reshape(t, h * w).T).reshape(h, w)
    flat = np.ptp(centred, axis=0) == 0
    if flat.any():
        r, c = (int(i[0]) for i in np.nonzero(flat))
        raise MovieError(
            f"{movie.path}: {int(flat.sum())} constant pixel(s) in the first {t} frames "
            f"(first at row {r}, column {c}); crop them or add them back after denoising"
        )
    return np.maximum(sd, np.float32(1e-6) * np.maximum(np.abs(mean), 1))


def _schedule(
    residual: np.ndarray,
    blocks: list[Block],
    settings: FitSettings,
    device: str,
    batch: int,
    workers: int,
) -> Iterator[_Task]:
    t = residual.shape[0]
    groups: dict[tuple[int, int], list[int]] = {}
    for i, b in enumerate(blocks):
        groups.setdefault((b.height, b.width), []).append(i)
    limits = _thresholds(list(groups), t, settings, device, workers)
    for shape, members in groups.items():
        thresholds = limits[shape]
        for a in range(0, len(members), batch):
            ids = members[a : a + batch]
            data = np.stack(
                [
                    residual[:, blocks[i].slices[0], blocks[i].slices[1]].reshape(t, -1).T
                    for i in ids
                ]
            )
            yield _Task(shape, ids, data, thresholds)


def _bounded(
    submit: Callable[[_Task], Any], tasks: Iterator[_Task], limit: int, wait: Callable[..., Any]
) -> Iterator[Any]:
    """Submit tasks with at most ``limit`` unfinished at once; yield each finished future."""
    pending: set[Any] = set()
    for task in tasks:
        pending.add(submit(task))
        if len(pending) >= limit:
            done, pending = wait(pending)
            yield from done
    while pending:
        done, pending = wait(pending)
        yield from done


def _fit_all(
    tasks: Iterator[_Task],
    settings: FitSettings,
    device: str,
    workers: int,
    client: Any,
    on_done: Callable[[int], None],
) -> dict[int, BlockFit]:
    fits: dict[int, BlockFit] = {}

    def collect(futures: Iterator[Any]) -> None:
        for future in futures:
            ids, result = future.result()
            fits.update(zip(ids, result, strict=True))
            on_done(len(ids))

    if client is not None:
        from dask.distributed import Client
        from dask.distributed import wait as dask_wait

        own = not isinstance(client, Client)
        if own:
            client = Client(client)
        try:
            limit = IN_FLIGHT * max(1, sum(client.nthreads().values()))
            collect(
                _bounded(
                    lambda task: client.submit(_run_task, task, settings, device, pure=False),
                    tasks,
                    limit,
                    lambda fs: dask_wait(fs, return_when="FIRST_COMPLETED"),
                )
            )
        finally:
            if own:
                client.close()
        return fits
    if workers <= 1:
        for task in tasks:
            ids, result = _run_task(task, settings, device)
            fits.update(zip(ids, result, strict=True))
            on_done(len(ids))
        return fits
    with ThreadPoolExecutor(workers) as pool:
        collect(
            _bounded(
                lambda task: pool.submit(_run_task, task, settings, device),
                tasks,
                IN_FLIGHT * workers,
                lambda fs: wait(fs, return_when=FIRST_COMPLETED),
            )
        )
    return fits


def _regress(
    movie: Movie,
    mean: np.ndarray,
    noise: np.ndarray,
    blocks: list[Block],
    spatial: list[np.ndarray],
    out: np.ndarray,
    chunk: int,
    bar: Any,
) -> None:
    pinvs = [np.linalg.pinv(u).astype(np.float32) if u.shape[1] else None for u in spatial]
    offsets = np.concatenate([[0], np.cumsum([u.shape[1] for u in spatial])]).astype(int)
    for a, b in _chunks(movie.n_frames, chunk):
        residual = (movie.read(a, b) - mean) / noise
        for i, blk in enumerate(blocks):
            p = pinvs[i]
            if p is None:
                continue
            y = residual[:, blk.slices[0], blk.slices[1]].reshape(b - a, -1)
            out[a:b, offsets[i] : offsets[i + 1]] = y @ p.T
        bar.update(b - a)


def _fingerprint(movie: Movie) -> dict[str, Any]:
    """Return what identifies the input: the file (path, size, mtime) or an array's digest."""
    out: dict[str, Any] = {"path": movie.path, "shape": list(movie.shape)}
    file = movie.file
    if file is not None and os.path.exists(file):
        st = os.stat(file)
        out.update(path=str(Path(file).resolve()) + movie.path[len(file) :], bytes=st.st_size,
                   mtime=st.st_mtime)  # fmt: skip
    else:
        last = movie.n_frames - 1
        frames = np.concatenate([movie.read(0, 1), movie.read(last, last + 1)])
        out["digest"] = hashlib.sha1(frames.tobytes()).hexdigest()
    return out


def denoise_movie(
    source: str | os.PathLike[str] | np.ndarray | Movie | Any,
    out: str | os.PathLike[str] | None = None,
    *,
    block: tuple[int, int] = (32, 32),
    settings: FitSettings | None = None,
    window: int = 2000,
    chunk: int = CHUNK,
    workers: int | None = None,
    client: Any = None,
    device: str = "auto",
    batch: int = BATCH,
    overwrite: bool = False,
    progress: bool = False,
    **open_options: Any,
) -> Compressed:
    """Denoise and compress a movie by PMD or blockwise truncated SVD.

    Parameters
    ----------
    source
        A movie file, a NumPy or dask array, or a :class:`~neurotwin.imaging.movie.Movie`
        (``frames x height x width``).
    out
        Result folder (format in :mod:`neurotwin.imaging.compressed`); None keeps the result
        in memory only.
    block
        Block size ``(rows, columns)`` in pixels.
    settings
        Mode (``pmd`` or ``svd``) and its settings; :class:`FitSettings` defaults when None.
    window
        Frames (from the start) on which the noise and the spatial factors are fitted; the
        whole movie is then regressed onto the spatial factors.
    chunk
        Frames read at a time when streaming the movie.
    workers
        Threads factorising blocks at once on this machine (default: one per core); on the
        CPU each runs torch single-threaded.
    client
        A ``dask.distributed.Client`` or a scheduler address (``tcp://host:8786``): blocks are
        then factorised as tasks on that cluster (dask is imported only then).
    device
        Torch device for the factorisation: ``auto`` (CUDA when present), ``cpu``, ``cuda``.
    batch
        Blocks of equal shape factorised together in one task.
    overwrite
        Replace a result of another movie or other settings at ``out``.
    progress
        Show progress bars.
    **open_options
        Passed to :func:`~neurotwin.imaging.movie.open_movie` (``dataset``, ``frame_shape``,
        ``dtype``).

    Returns
    -------
    Compressed
        The result (its ``temporal`` factors memory-mapped from ``out`` when saved).

    Raises
    ------
    MovieError
        For an unreadable or truncated movie, NaN or infinite values, a constant pixel, fewer
        than :data:`~neurotwin.imaging.noise.MIN_FRAMES` frames, or a block size that does
        not fit the field of view (each message names the file).
    CompressedError
        When ``out`` holds something other than a replaceable result.
    """
    settings = settings or FitSettings()
    if settings.method not in METHODS:
        raise MovieError(f"unknown method {settings.method!r} (known: {', '.join(METHODS)})")
    movie = source if isinstance(source, Movie) else open_movie(source, **open_options)
    t, h, w = movie.shape
    if t < MIN_FRAMES:
        raise MovieError(
            f"{movie.path}: {t} frames; the noise estimate needs at least {MIN_FRAMES}"
        )
    check_block_size(movie, block)
    identity = {"source": _fingerprint(movie), "block": list(block), **settings.to_dict(),
                "window": window}  # fmt: skip
    path = Path(out) if out is not None else None
    if path is not None:
        check_output(path, identity, overwrite)
    device = _device(device)
    workers = workers or os.cpu_count() or 1
    threads = torch.get_num_threads()
    started = time.perf_counter()
    blocks = make_blocks(h, w, block)
    tmp = staging_folder(path) if path is not None else None
    try:
        with progress_bar(progress, total=t, desc="mean", unit="frame") as bar:
            mean = _mean_image(movie, chunk, bar)
        fit_frames = min(window, t)
        residual = movie.read(0, fit_frames) - mean  # a new array: the source is never changed
        noise = _noise_image(movie, residual, mean)
        residual /= noise
        with progress_bar(progress, total=len(blocks), desc=settings.method, unit="block") as bar:
            tasks = _schedule(residual, blocks, settings, device, batch, workers)
            fits = _fit_all(tasks, settings, device, workers, client, bar.update)
        del residual
        spatial = [fits[i].spatial for i in range(len(blocks))]
        k = sum(u.shape[1] for u in spatial)
        temporal: np.ndarray
        if tmp is not None:
            temporal = np.lib.format.open_memmap(
                tmp / "temporal.npy", mode="w+", dtype=np.float32, shape=(t, k)
            )
        else:
            temporal = np.zeros((t, k), dtype=np.float32)
        with progress_bar(progress, total=t, desc="regress", unit="frame") as bar:
            _regress(movie, mean, noise, blocks, spatial, temporal, chunk, bar)
        info = {
            "identity": identity,
            "block_size": list(block),
            "settings": settings.to_dict(),
            "window": fit_frames,
            "source": _fingerprint(movie),
            "source_dtype": str(movie.dtype),
            "device": device,
            "seconds": round(time.perf_counter() - started, 3),
        }
        result = Compressed((t, h, w), blocks, spatial, temporal, mean, noise, info)
        if tmp is None or path is None:
            return result
        if isinstance(temporal, np.memmap):
            temporal.flush()
        del temporal
        result.temporal = np.zeros((0, k), np.float32)
        write_arrays(result, tmp)
        finish(result, tmp, path)
        result.temporal = np.load(path / "temporal.npy", mmap_mode="r")
        return result
    finally:
        torch.set_num_threads(threads)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
