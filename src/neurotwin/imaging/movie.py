"""Movies on disk, read a range of frames at a time: NumPy, TIFF, HDF5, suite2p ``data.bin``, zarr.

Every movie is ``frames x height x width`` of any real numeric dtype. :func:`open_movie`
checks what can be checked without reading the pixels (format, shape, dtype, file size) and
returns a :class:`Movie`; :meth:`Movie.read` returns a range of frames as float32, so a movie
larger than memory is processed in pieces. Frames stored as one block of raw values (``.npy``
in C order, ``.bin``, uncompressed contiguous TIFF) are read with positional file reads into
a new array, not through a memory map: a mapped file's pages count in the process's resident
memory, so a pass over a 10 GB movie would look like 10 GB of memory to ``top`` and to a
cluster's memory accounting. Other TIFF layouts are read page by page; HDF5 and zarr read only
the chunks asked for.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin.imaging.config import SUFFIXES
from neurotwin.imaging.errors import MovieError

_MISSING = "needs the optional dependency {pkg}: pip install 'neurotwin[imaging]'"


def _require(pkg: str, path: str) -> Any:
    try:
        return __import__(pkg)
    except ImportError as exc:  # pragma: no cover - the imaging extra is installed in CI
        raise MovieError(f"{path}: reading this format {_MISSING.format(pkg=pkg)}") from exc


@dataclass
class Movie:
    """A movie opened for reading in frame ranges.

    Attributes
    ----------
    path
        Where it came from (``"<array>"`` for an in-memory array); used in every message.
    shape
        ``(frames, height, width)``.
    dtype
        The stored dtype.
    format
        ``npy``, ``tiff``, ``hdf5``, ``bin``, ``zarr``, ``array`` or ``dask``.
    file
        The file or folder read (``path`` without an HDF5 dataset's name); None for arrays.
    """

    path: str
    shape: tuple[int, int, int]
    dtype: np.dtype[Any]
    format: str
    _reader: Callable[[int, int], np.ndarray]
    file: str | None = None

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return self.shape[0]

    def read(self, start: int, stop: int) -> np.ndarray:
        """Return frames ``start:stop`` as a float32 array ``(stop - start, height, width)``.

        Raises
        ------
        MovieError
            When the range is outside the movie, the file cannot be read, or a frame holds
            NaN or infinite values (the message names the file and the first bad frame).
        """
        if not 0 <= start <= stop <= self.n_frames:
            raise MovieError(f"{self.path}: frames {start}:{stop} outside 0:{self.n_frames}")
        try:
            stored = np.asarray(self._reader(start, stop))
            with np.errstate(over="ignore"):  # values beyond float32 are named below
                data = stored.astype(np.float32, copy=False)
        except MovieError:
            raise
        except Exception as exc:
            raise MovieError(f"{self.path}: cannot read frames {start}:{stop} ({exc})") from exc
        if data.shape != (stop - start, *self.shape[1:]):
            raise MovieError(
                f"{self.path}: frames {start}:{stop} came back with shape {data.shape}, "
                f"expected {(stop - start, *self.shape[1:])} (truncated file?)"
            )
        bad = ~np.isfinite(data)
        if bad.any():
            t, r, c = (int(i[0]) for i in np.nonzero(bad))
            where = f"frame {start + t}, row {r}, column {c}"
            if np.isfinite(stored[t, r, c]):
                raise MovieError(
                    f"{self.path}: {where} holds {stored[t, r, c]:.6g}, beyond float32's range "
                    "(about 3.4e38); rescale the movie"
                )
            raise MovieError(
                f"{self.path}: frame {start + t} holds NaN or infinite values "
                f"(first at row {r}, column {c}); a movie must be finite"
            )
        return data


def _check_shape(path: str, shape: tuple[int, ...], dtype: np.dtype[Any]) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise MovieError(
            f"{path}: a movie must be frames x height x width, got shape {tuple(shape)}"
        )
    if not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)) or (
        np.issubdtype(dtype, np.bool_)
    ):
        raise MovieError(f"{path}: a movie must hold real numbers, got dtype {dtype}")
    if min(shape) < 1:
        raise MovieError(f"{path}: the movie is empty (shape {tuple(shape)})")
    return int(shape[0]), int(shape[1]), int(shape[2])


def _from_array(path: str, array: Any, fmt: str, file: str | None = None) -> Movie:
    shape = _check_shape(path, tuple(array.shape), np.dtype(array.dtype))
    return Movie(path, shape, np.dtype(array.dtype), fmt, lambda a, b: array[a:b], file)


def _raw_frames(
    path: str, offset: int, dtype: np.dtype[Any], shape: tuple[int, ...], fmt: str
) -> Movie:
    """Open a movie stored as raw C-order values from byte ``offset``, for positional reads."""
    frames = _check_shape(path, shape, dtype)
    frame_bytes = frames[1] * frames[2] * dtype.itemsize
    size = os.path.getsize(path)
    if size < offset + frames[0] * frame_bytes:
        raise MovieError(
            f"{path}: {size} bytes hold fewer than the {frames[0]} frames of {frames[1]} x "
            f"{frames[2]} {dtype} its header announces (truncated file?)"
        )

    def read(a: int, b: int) -> np.ndarray:
        out = np.empty((b - a, frames[1], frames[2]), dtype=dtype)
        want = (b - a) * frame_bytes
        with open(path, "rb") as handle:
            handle.seek(offset + a * frame_bytes)
            got = handle.readinto(out.reshape(-1).view(np.uint8).data)
        if got != want:
            raise MovieError(f"{path}: frames {a}:{b}: read {got} of {want} bytes (truncated?)")
        return out

    return Movie(path, frames, dtype, fmt, read, path)


def _open_npy(path: str) -> Movie:
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
            else:  # a newer header: numpy reads it
                shape, fortran, dtype = (), True, np.dtype(np.float32)
            offset = handle.tell()
        if fortran or len(shape) != 3 or dtype.hasobject:  # numpy's memory map reads these
            array = np.load(path, mmap_mode="r", allow_pickle=False)
            return _from_array(path, array, "npy", path)
    except Exception as exc:  # a damaged header raises ValueError, SyntaxError, TokenError...
        raise MovieError(f"{path}: not a readable .npy array ({exc})") from exc
    return _raw_frames(path, offset, np.dtype(dtype), tuple(shape), "npy")


@contextlib.contextmanager
def _tifffile_warnings() -> Iterator[list[str]]:
    """Collect (and silence) what tifffile logs: it logs damaged files instead of raising."""
    log = logging.getLogger("tifffile")
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    handler, propagate = Collect(logging.WARNING), log.propagate
    log.addHandler(handler)
    log.propagate = False
    try:
        yield seen
    finally:
        log.removeHandler(handler)
        log.propagate = propagate


def _open_tiff(path: str) -> Movie:
    tifffile = _require("tifffile", path)
    try:
        with _tifffile_warnings() as seen, tifffile.TiffFile(path) as tif:
            n_pages = len(tif.pages)  # reads every page's header: finds a broken chain
            series = tif.series
            page = tif.pages.first
            samples, page_shape = int(page.samplesperpixel), tuple(page.shape)
            dtype = np.dtype(series[0].dtype)
            shapes = [tuple(x.shape) for x in series]
            dtypes = {np.dtype(x.dtype) for x in series}
            offset, byteorder = series[0].dataoffset, tif.byteorder
    except Exception as exc:
        raise MovieError(f"{path}: not a readable TIFF file ({exc})") from exc
    if seen:
        raise MovieError(f"{path}: damaged or truncated TIFF file (tifffile: {seen[0]})")
    if samples > 1:
        raise MovieError(
            f"{path}: {samples} samples per pixel (colour?); a movie has one value per pixel"
        )
    frame_hw = page_shape[-2:]
    if len(dtypes) > 1 or any(shape[-2:] != frame_hw for shape in shapes):
        raise MovieError(f"{path}: its images differ in size or type; not one movie")
    for shape in shapes:
        if sum(d > 1 for d in shape[:-2]) > 1:  # e.g. time x channels x height x width
            raise MovieError(
                f"{path}: an image series of shape {shape}; a movie has one axis (frames) "
                "besides height and width: save one channel or plane"
            )
    counts = [int(np.prod(shape[:-2], dtype=np.int64)) for shape in shapes]
    frames = _check_shape(path, (sum(counts), *frame_hw), dtype)
    if len(series) == 1 and offset is not None:  # uncompressed and contiguous
        return _raw_frames(path, offset, dtype.newbyteorder(byteorder), frames, "tiff")
    if n_pages != frames[0]:
        raise MovieError(f"{path}: {n_pages} TIFF pages for {frames[0]} frames; unsupported layout")

    def read(a: int, b: int) -> np.ndarray:  # page by page (compressed, tiled or scattered)
        with _tifffile_warnings() as seen, tifffile.TiffFile(path) as tif:
            data = np.stack([tif.pages[i].asarray() for i in range(a, b)])
        if seen:
            raise MovieError(f"{path}: frames {a}:{b}: damaged TIFF data (tifffile: {seen[0]})")
        return data

    return Movie(path, frames, dtype, "tiff", read, path)


def _open_hdf5(path: str, dataset: str | None) -> Movie:
    h5py = _require("h5py", path)
    try:
        handle = h5py.File(path, "r")
    except Exception as exc:
        raise MovieError(f"{path}: not a readable HDF5 file ({exc})") from exc
    if dataset is None:
        found: list[str] = []
        handle.visititems(
            lambda name, obj: (
                found.append(name) if isinstance(obj, h5py.Dataset) and obj.ndim == 3 else None
            )
        )
        if len(found) != 1:
            handle.close()
            raise MovieError(
                f"{path}: {len(found)} three-dimensional datasets ({', '.join(found) or 'none'});"
                " name the movie's with dataset=... (--dataset)"
            )
        dataset = found[0]
    if dataset not in handle:
        handle.close()
        raise MovieError(f"{path}: no dataset {dataset!r}")
    node = handle[dataset]
    if not isinstance(node, h5py.Dataset):
        handle.close()
        raise MovieError(f"{path}: {dataset!r} is a group, not a dataset; name the movie's dataset")
    return _from_array(f"{path}:{dataset}", node, "hdf5", path)


def _open_zarr(path: str, dataset: str | None) -> Movie:
    zarr = _require("zarr", path)
    try:
        node = zarr.open(path, mode="r")
        if dataset is not None:
            node = node[dataset]
    except Exception as exc:
        raise MovieError(f"{path}: not a readable zarr array ({exc})") from exc
    if not hasattr(node, "shape"):
        raise MovieError(f"{path}: a zarr group, not an array; name the array with --dataset")
    return _from_array(path, node, "zarr", path)


def _open_bin(path: str, frame_shape: tuple[int, int] | None, dtype: Any) -> Movie:
    if frame_shape is None:
        raise MovieError(
            f"{path}: a raw .bin file (suite2p data.bin) needs its frame shape: "
            "frame_shape=(height, width) (--frame-shape HEIGHT WIDTH)"
        )
    dt = np.dtype(dtype)
    height, width = (int(x) for x in frame_shape)
    if height < 1 or width < 1:
        raise MovieError(f"{path}: frame shape {height} x {width}; both must be at least 1")
    frame_bytes = height * width * dt.itemsize
    size = os.path.getsize(path)
    if size == 0 or size % frame_bytes:
        raise MovieError(
            f"{path}: {size} bytes is not a whole number of {height} x {width} {dt} frames "
            f"({frame_bytes} bytes each): truncated file or wrong frame shape"
        )
    return _raw_frames(path, 0, dt, (size // frame_bytes, height, width), "bin")


def open_movie(
    source: str | os.PathLike[str] | np.ndarray | Any,
    *,
    dataset: str | None = None,
    frame_shape: tuple[int, int] | None = None,
    dtype: Any = np.int16,
) -> Movie:
    """Open a movie for reading in frame ranges, without loading it.

    Parameters
    ----------
    source
        A file (``.npy``, ``.tif``/``.tiff``, ``.h5``/``.hdf5``, ``.bin``, ``.zarr``) or an
        array of shape ``(frames, height, width)``: a NumPy array or memory map, or a
        ``dask.array.Array`` (frames are computed when read).
    dataset
        HDF5 dataset or zarr array inside a group; by default the only 3-D dataset. An
        error for other formats.
    frame_shape
        ``(height, width)`` of a raw ``.bin`` file (suite2p's ``Ly, Lx``); required for it.
        For other formats it is checked against the file's frames.
    dtype
        Element type of a raw ``.bin`` file (suite2p writes int16).

    Returns
    -------
    Movie
        The opened movie.

    Raises
    ------
    MovieError
        When the file does not exist, is not of a known format, cannot be read, is truncated,
        or is not a 3-D real-valued movie. The message names the file.
    """
    if isinstance(source, np.ndarray):
        return _from_array("<array>", source, "array")
    if type(source).__module__.split(".")[0] == "dask":
        # A dask array: each range of frames read is computed by dask (lazily, in chunks).
        return _from_array("<dask array>", source, "dask")
    path = str(source)
    if not os.path.exists(path):
        raise MovieError(f"{path}: no such file")
    suffix = Path(path).suffix.lower()
    fmt = SUFFIXES.get(suffix)
    if fmt is None:
        known = ", ".join(sorted(SUFFIXES))
        raise MovieError(f"{path}: unknown movie format {suffix!r} (known: {known})")
    if fmt != "zarr" and not os.path.isfile(path):
        raise MovieError(f"{path}: a folder, not a {suffix} file")
    if dataset is not None and fmt not in ("hdf5", "zarr"):
        raise MovieError(f"{path}: a dataset name is for HDF5 and zarr files, not {suffix}")
    if fmt == "bin":
        return _open_bin(path, frame_shape, dtype)
    if fmt == "npy":
        movie = _open_npy(path)
    elif fmt == "tiff":
        movie = _open_tiff(path)
    elif fmt == "hdf5":
        movie = _open_hdf5(path, dataset)
    else:
        movie = _open_zarr(path, dataset)
    if frame_shape is not None and tuple(frame_shape) != movie.shape[1:]:
        raise MovieError(
            f"{movie.path}: frames of {movie.shape[1]} x {movie.shape[2]} pixels, not the "
            f"{frame_shape[0]} x {frame_shape[1]} given (a frame shape is needed only for .bin)"
        )
    return movie


def write_movie(path: str | os.PathLike[str], movie: np.ndarray) -> Path:
    """Write ``movie`` ``(frames, height, width)`` in the format its file name says, atomically.

    ``.bin`` is a raw C-order dump (suite2p's ``data.bin`` when the dtype is int16); the
    others are the formats :func:`open_movie` reads. The file appears under its name only
    when complete.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    MovieError
        For an unknown file name ending or a movie that is not 3-D.
    """
    path = Path(path)
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise MovieError(f"{path}: unknown movie format {path.suffix!r}")
    _check_shape(str(path), movie.shape, movie.dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}{path.suffix}")
    try:
        if fmt == "npy":
            np.save(tmp, movie)
        elif fmt == "bin":
            np.ascontiguousarray(movie).tofile(tmp)
        elif fmt == "tiff":
            _require("tifffile", str(path)).imwrite(tmp, movie)
        elif fmt == "hdf5":
            with _require("h5py", str(path)).File(tmp, "w") as handle:
                handle.create_dataset("movie", data=movie, chunks=True)
        else:
            zarr = _require("zarr", str(path))
            zarr.save_array(str(tmp), movie)
        os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
    return path
