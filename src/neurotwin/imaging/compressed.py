"""The compressed result of a PMD run: an open folder of ``.npy`` arrays and a JSON manifest.

Layout (format ``neurotwin-pmd``, version 1; every array little-endian ``.npy``)::

    RESULT/
      manifest.json  written last: format, version, movie shape, block size, settings,
                     source (path, size, modification time), ranks, compression ratio
      mean.npy       (height, width) float32: each pixel's mean over all frames
      noise.npy      (height, width) float32: each pixel's noise SD (Welch PSD, upper band)
      blocks.npy     (blocks, 7) int64: tiling, row, column, height, width, rank, offset
      spatial.npy    (sum of pixels x rank,) float32: each block's (pixels, rank) spatial
                     factors in row-major order, starting at its offset
      temporal.npy   (frames, sum of ranks) float32: the temporal factors, the columns of a
                     block following those of the blocks before it (time-major, so a range
                     of frames is one contiguous read)

A frame ``t`` is ``mean + noise * sum_b weight_b * (U_b @ V_b[:, t])`` where ``U_b`` is the
block's ``(pixels, rank)`` spatial factors reshaped to the block, ``V_b`` its rows of
``temporal.npy`` transposed, and ``weight_b`` the pyramid weights of
:func:`neurotwin.imaging.blocks.blend_weights` (computed from the block table), which sum
to one at every pixel.

The folder is written under a temporary name and renamed into place, manifest last, so a
folder that has a manifest is complete; an interrupted run leaves no ``RESULT``.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin import __version__, atomic
from neurotwin.imaging.blocks import Block, blend_weights
from neurotwin.imaging.errors import CompressedError

FORMAT = "neurotwin-pmd"
VERSION = 1
ARRAYS = ("mean", "noise", "blocks", "spatial", "temporal")


@dataclass
class Compressed:
    """A movie as blocks of low-rank factors (see the module text for the layout).

    Attributes
    ----------
    shape
        ``(frames, height, width)`` of the movie.
    blocks
        The blocks of the four tilings.
    spatial
        Per block, ``(pixels, rank)`` float32 spatial factors (noise-normalised units).
    temporal
        ``(frames, sum of ranks)`` float32 temporal factors (may be a memory map).
    mean, noise
        ``(height, width)`` float32 mean and noise SD images.
    info
        The manifest's other entries (block size, settings, source, timings...).
    """

    shape: tuple[int, int, int]
    blocks: list[Block]
    spatial: list[np.ndarray]
    temporal: np.ndarray
    mean: np.ndarray
    noise: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)
    _weights: list[np.ndarray] | None = field(default=None, repr=False)

    @property
    def ranks(self) -> np.ndarray:
        """``(blocks,)`` rank of every block."""
        return np.array([u.shape[1] for u in self.spatial], dtype=np.int64)

    @property
    def offsets(self) -> np.ndarray:
        """``(blocks,)`` first column of every block in ``temporal``."""
        return np.concatenate([[0], np.cumsum(self.ranks)[:-1]]).astype(np.int64)

    @property
    def compression_ratio(self) -> float:
        """Movie values over stored factor values: ``T*H*W / sum_b (pixels_b + T) * rank_b``."""
        t, h, w = self.shape
        stored = sum((b.pixels + t) * int(k) for b, k in zip(self.blocks, self.ranks, strict=True))
        return float(t * h * w / stored) if stored else float("inf")

    def weights(self) -> list[np.ndarray]:
        """Return every block's blending weights (computed once)."""
        if self._weights is None:
            self._weights = blend_weights(self.shape[1], self.shape[2], self.blocks)
        return self._weights

    def reconstruct(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Return the denoised frames ``start:stop`` as float32 ``(n, height, width)``.

        Only the rows ``start:stop`` of the temporal factors are read, so any range of a
        long movie is rebuilt without the rest.

        Raises
        ------
        CompressedError
            When the range is outside the movie.
        """
        t, h, w = self.shape
        stop = t if stop is None else stop
        if not 0 <= start <= stop <= t:
            raise CompressedError(f"frames {start}:{stop} outside the movie's 0:{t}")
        v = np.asarray(self.temporal[start:stop], dtype=np.float32)
        out = np.zeros((stop - start, h, w), dtype=np.float32)
        for b, u, weight, c in zip(
            self.blocks, self.spatial, self.weights(), self.offsets, strict=True
        ):
            k = u.shape[1]
            if k == 0:
                continue
            part = (v[:, c : c + k] @ u.T).reshape(-1, b.height, b.width)
            out[:, b.slices[0], b.slices[1]] += part * weight
        return out * self.noise + self.mean

    def rank_image(self, tiling: int = 0) -> np.ndarray:
        """Return ``(height, width)`` with each pixel's block rank in one tiling."""
        img = np.zeros(self.shape[1:], dtype=np.int64)
        for b, k in zip(self.blocks, self.ranks, strict=True):
            if b.tiling == tiling:
                img[b.slices] = k
        return img

    def summary(self) -> dict[str, Any]:
        """Return the figures worth printing: ranks, compression ratio, sizes."""
        ranks = self.ranks
        return {
            "shape": list(self.shape),
            "blocks": len(self.blocks),
            "components": int(ranks.sum()),
            "rank_mean": float(ranks.mean()) if len(ranks) else 0.0,
            "rank_max": int(ranks.max()) if len(ranks) else 0,
            "compression_ratio": self.compression_ratio,
        }


def _manifest(result: Compressed, extra_files: dict[str, int]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "neurotwin": __version__,
        "shape": list(result.shape),
        **result.info,
        **result.summary(),
        "ranks": result.ranks.tolist(),
        "files": extra_files,
    }


def check_output(out: str | os.PathLike[str], identity: dict[str, Any], overwrite: bool) -> None:
    """Refuse an output folder that holds something other than a replaceable result.

    Parameters
    ----------
    out
        The result folder to be written.
    identity
        What makes two results the same (source and settings); compared with the manifest's
        ``identity``.
    overwrite
        Replace a result of another movie or other settings.

    Raises
    ------
    CompressedError
        When ``out`` is a file, a non-empty folder that is not a result, or (without
        ``overwrite``) a result of a different movie or different settings.
    """
    path = Path(out)
    if not path.exists():
        return
    if not path.is_dir():
        raise CompressedError(f"{path}: exists and is not a folder")
    manifest = path / "manifest.json"
    if not manifest.exists():
        if any(path.iterdir()):
            raise CompressedError(
                f"{path}: a non-empty folder that holds no {FORMAT} result; choose another --out"
            )
        return
    try:
        old = json.loads(manifest.read_text())
    except (OSError, ValueError) as exc:
        raise CompressedError(f"{manifest}: unreadable manifest ({exc})") from exc
    if old.get("identity") != identity and not overwrite:
        before = old.get("identity") or {}
        diff = sorted(k for k in set(before) | set(identity) if before.get(k) != identity.get(k))
        raise CompressedError(
            f"{path}: holds a different result (differs in {', '.join(diff) or 'format'}); "
            "use another folder or overwrite=True (--overwrite)"
        )


def save_compressed(
    result: Compressed, out: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """Write ``result`` as a result folder, atomically (see the module text for the layout).

    Parameters
    ----------
    result
        The decomposition; ``result.info['identity']`` decides whether an existing result
        at ``out`` may be replaced (:func:`check_output`).
    out
        The folder to write.
    overwrite
        Replace a different result.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    path = Path(out)
    check_output(path, result.info.get("identity", {}), overwrite)
    tmp = staging_folder(path)
    try:
        write_arrays(result, tmp)
        finish(result, tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def staging_folder(out: Path) -> Path:
    """Return a fresh temporary folder beside ``out`` for building a result."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return tmp


def write_arrays(result: Compressed, folder: Path) -> None:
    """Write every array of ``result`` except one already at ``folder/temporal.npy``."""
    table = np.array(
        [
            [b.tiling, b.row, b.col, b.height, b.width, k, 0]
            for b, k in zip(result.blocks, result.ranks, strict=True)
        ],
        dtype=np.int64,
    ).reshape(-1, 7)
    sizes = np.array([u.size for u in result.spatial], dtype=np.int64)
    table[:, 6] = np.concatenate([[0], np.cumsum(sizes)[:-1]]) if len(sizes) else []
    flat = (
        np.concatenate([u.ravel() for u in result.spatial]).astype(np.float32)
        if result.spatial
        else np.zeros(0, np.float32)
    )
    np.save(folder / "blocks.npy", table)
    np.save(folder / "spatial.npy", flat)
    np.save(folder / "mean.npy", result.mean.astype(np.float32))
    np.save(folder / "noise.npy", result.noise.astype(np.float32))
    if not (folder / "temporal.npy").exists():
        np.save(folder / "temporal.npy", np.ascontiguousarray(result.temporal, dtype=np.float32))


def finish(result: Compressed, tmp: Path, out: Path) -> None:
    """Write the manifest into ``tmp`` and move ``tmp`` to ``out`` (replacing a result there)."""
    files = {f"{name}.npy": (tmp / f"{name}.npy").stat().st_size for name in ARRAYS}
    text = json.dumps(_manifest(result, files), indent=2)
    (tmp / "manifest.json").write_text(text + "\n", encoding="utf-8")
    atomic.publish(tmp, out)


def load_compressed(path: str | os.PathLike[str], *, mmap: bool = True) -> Compressed:
    """Read a result folder written by :func:`save_compressed` or ``neurotwin denoise``.

    Parameters
    ----------
    path
        The result folder.
    mmap
        Memory-map the temporal factors (the only array that grows with the movie).

    Returns
    -------
    Compressed
        The result; :meth:`Compressed.reconstruct` rebuilds any frame range.

    Raises
    ------
    CompressedError
        When the folder has no manifest (missing or unfinished), another format or version,
        a missing or truncated array, or arrays that disagree with each other.
    """
    folder = Path(path)
    manifest = folder / "manifest.json"
    if not manifest.exists():
        raise CompressedError(f"{folder}: no manifest.json: not a finished {FORMAT} result")
    try:
        info = json.loads(manifest.read_text())
    except (OSError, ValueError) as exc:
        raise CompressedError(f"{manifest}: unreadable manifest ({exc})") from exc
    if info.get("format") != FORMAT or info.get("version") != VERSION:
        raise CompressedError(
            f"{manifest}: format {info.get('format')!r} version {info.get('version')!r}, "
            f"expected {FORMAT!r} version {VERSION}"
        )
    for name, size in info.get("files", {}).items():
        file = folder / name
        if not file.exists() or file.stat().st_size != size:
            raise CompressedError(f"{file}: missing or truncated (expected {size} bytes)")
    try:
        table = np.load(folder / "blocks.npy")
        flat = np.load(folder / "spatial.npy", mmap_mode="r")
        temporal = np.load(folder / "temporal.npy", mmap_mode="r" if mmap else None)
        mean = np.load(folder / "mean.npy")
        noise = np.load(folder / "noise.npy")
    except (OSError, ValueError) as exc:
        raise CompressedError(f"{folder}: unreadable array ({exc})") from exc
    shape = tuple(int(x) for x in info["shape"])
    blocks = [Block(*(int(x) for x in row[:5])) for row in table]
    spatial = []
    for b, row in zip(blocks, table, strict=True):
        k, off = int(row[5]), int(row[6])
        spatial.append(np.array(flat[off : off + b.pixels * k]).reshape(b.pixels, k))
    if temporal.shape != (shape[0], int(table[:, 5].sum())) or mean.shape != shape[1:]:
        raise CompressedError(f"{folder}: arrays disagree with the manifest's shape {shape}")
    keep = {k: v for k, v in info.items() if k not in ("ranks", "files")}
    return Compressed((shape[0], shape[1], shape[2]), blocks, spatial, temporal, mean, noise, keep)
