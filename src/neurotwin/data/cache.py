"""One consolidated, memory-mapped copy of a recording, built once and reused.

The first use of a recording streams its trial files (in chunks, so peak memory stays far
below the recording's size), optionally resizes the stimulus once to the training
resolution, and writes one ``.npy`` per field with every trial stacked. After that an epoch
reads these arrays through memory maps and touches no per-trial file.

A cache lives in ``{cache_dir}/{recording name}-{digest}/`` where the digest covers the
recording's location and the stimulus size. It is built in a temporary folder and renamed
into place, so an interrupted build is never trusted; it records a fingerprint of the
source files (names, sizes, modification times) and is rebuilt when they change. Nothing is
written into the recording's own folder.

Verification: ``meta.json`` also records each cache file's SHA-256 (computed while the file
is written), size and modification time. Every :func:`cache_for` checks the files' headers
and sizes and re-hashes only a file whose modification time changed (cheap: a ``stat`` per
file); ``cache_for(..., verify=True)`` (``neurotwin cache``) re-hashes every file. A cache
found damaged is rebuilt with a one-line warning. A cache built before checksums were
recorded is used as it is by training (headers and sizes checked) and rebuilt by
``verify=True``, which cannot vouch for its contents otherwise.

Two preprocessings of the images are offered, each with its own cache (the folder name and
digest say which), recorded in ``meta.json`` and, for models, in
:class:`neurotwin.models.RecordingInfo`:

- ``"neurotwin"`` (default): each image is resized once, anti-aliased (Gaussian smoothing
  before bilinear interpolation), then normalised by the loaders. Anti-aliasing keeps the
  fine texture of a 144 x 256 image from folding into false coarse patterns at 36 x 64, so
  neurotwin's own models train and predict on it.
- ``"kit"``: the 2022 starting kit's, for kit weights: the kit normalises each image and
  then calls scikit-image ``rescale(image, scale, mode="reflect", anti_aliasing=False,
  clip=True, preserve_range=True)`` (neuralpredictors' ``ScaleInputs``). Its bilinear
  interpolation and clipping to the image's range commute with the scalar normalisation
  ``(x - mean) / std``, so the cache rescales the raw image and the loaders normalise after,
  which equals the kit's order up to float rounding.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin import atomic
from neurotwin.data.cache_folder import (
    CACHE_FORMAT,
    CHECKSUM,
    HASH_CHUNK,
    LEFTOVER_AGE,
    PREPROCESSINGS,
    CacheError,
    HashingWriter,
    RecordingCache,
    cache_bytes,
    default_cache_dir,
    file_record,
    read_meta,
    remove_leftovers,
    stacked_shapes,
    write_meta,
)
from neurotwin.data.images import kit_rescale, resize_images
from neurotwin.data.problems import RecordingError
from neurotwin.data.recording import Recording, first_nan_frame
from neurotwin.data.validate import check_trial
from neurotwin.progress import progress_bar

#: Upper bound on the source bytes one build chunk holds in memory.
CHUNK_BYTES = 64 * 1024**2


def cache_for(
    recording: Recording,
    stimulus_hw: tuple[int, int] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    progress: bool = True,
    preprocessing: str = "neurotwin",
    verify: bool = False,
) -> RecordingCache:
    """Return the recording's cache, building or rebuilding it when needed.

    The recording's statistics are checked first (:meth:`Recording.statistics`), so a
    recording whose statistics cannot normalise it gets no cache. An existing cache is
    checked as :func:`cache_problem` says and rebuilt, with a one-line ``UserWarning``,
    when it is damaged.

    Parameters
    ----------
    recording
        An open recording.
    stimulus_hw
        Height and width to resize the stimulus to once (e.g. ``(36, 64)``); None keeps the
        recording's size.
    cache_dir
        Where caches live; :func:`default_cache_dir` when None.
    progress
        Show a progress bar while building.
    preprocessing
        ``"neurotwin"`` (resize anti-aliased) or ``"kit"`` (the 2022 kit's rescale, without
        anti-aliasing; static recordings only); see the module's notes.
    verify
        Re-hash every file of an existing cache against the checksums recorded when it was
        built (reads the whole cache; ``neurotwin cache`` does it), and rebuild a cache
        that has none. By default only files whose modification time changed are hashed.

    Returns
    -------
    RecordingCache
        A complete cache whose fingerprint matches the source files.

    Raises
    ------
    ValueError
        For a bad size, an unknown preprocessing or ``"kit"`` on a video recording.
    RecordingError
        When the recording's statistics are wrong (naming the file), or a trial is.
    """
    hw = tuple(stimulus_hw) if stimulus_hw is not None else recording.stimulus_hw
    if len(hw) != 2 or min(hw) < 1:
        raise ValueError(f"stimulus size must be two positive integers, got {stimulus_hw}")
    if preprocessing not in PREPROCESSINGS:
        raise ValueError(
            f"unknown preprocessing {preprocessing!r}; known: {', '.join(PREPROCESSINGS)}"
        )
    if preprocessing == "kit" and recording.layout.has_frames:
        raise ValueError(f"{recording.location}: the kit's preprocessing is for static images")
    check_statistics(recording)
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    kit = "\0kit" if preprocessing == "kit" else ""  # neurotwin caches keep their old digest
    digest = hashlib.sha1(
        f"{recording.location}\0{hw[0]}x{hw[1]}\0{CACHE_FORMAT}{kit}".encode()
    ).hexdigest()[:12]
    suffix = "-kit" if preprocessing == "kit" else ""
    path = root / f"{recording.name}-{hw[0]}x{hw[1]}{suffix}-{digest}"
    fingerprint = recording.source.fingerprint()
    cached = read_meta(path)
    if cached is not None and cached.get("fingerprint") == fingerprint:
        problem = cache_problem(path, cached, verify=verify)
        if problem is None:
            return RecordingCache(path, cached)
        warnings.warn(f"{path}: {problem}; rebuilding it", stacklevel=2)
    root.mkdir(parents=True, exist_ok=True)
    remove_leftovers(root)
    tmp = atomic.temp_name(path)
    try:
        size = (int(hw[0]), int(hw[1]))
        meta = _build(recording, size, tmp, fingerprint, progress, preprocessing)
        _publish(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return RecordingCache(path, meta)


def _expected_files(meta: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """Return the files of a cache and the shapes its ``meta.json`` says they have."""
    n = int(meta["n_trials"])
    t = int(meta["n_frames"])
    hw = tuple(int(v) for v in meta["stimulus_hw"])
    static = meta["kind"] == "static"
    shapes: dict[str, tuple[int, ...]] = {"lengths": (n,)}
    for field in meta["fields"]:
        if field in ("images", "videos"):
            shapes[field] = (n, 1, *hw) if static else (n, t, *hw)
        elif field == "responses":
            shapes[field] = (
                (n, int(meta["n_neurons"])) if static else (n, t, int(meta["n_neurons"]))
            )
        else:
            width = 2 if field == "pupil_center" else None
            shapes[field] = (n, width) if static and width else (n, -1) if static else (n, t, -1)
    return shapes


def cache_damage(path: Path, meta: dict[str, Any]) -> str | None:
    """Check a built cache's files against its ``meta.json`` without reading the data.

    Each file must exist, be a ``.npy`` whose header declares the shape the metadata
    implies, and hold exactly the bytes that shape needs (a truncated or padded file, a
    file from another build, a garbled header are all found).

    Parameters
    ----------
    path
        The cache folder.
    meta
        Its parsed ``meta.json``.

    Returns
    -------
    str or None
        What is wrong, or None for a sound cache.
    """
    try:
        expected = _expected_files(meta)
    except (KeyError, TypeError, ValueError) as exc:
        return f"meta.json lacks or garbles {exc}"
    for name, shape in expected.items():
        file = path / f"{name}.npy"
        try:
            with open(file, "rb") as handle:
                version = np.lib.format.read_magic(handle)
                read_header = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                found, _, dtype = read_header(handle)
                payload = os.fstat(handle.fileno()).st_size - handle.tell()
        except FileNotFoundError:
            return f"{name}.npy is missing"
        except (OSError, ValueError, EOFError, SyntaxError) as exc:
            return f"{name}.npy is not a .npy array ({exc})"
        if len(found) != len(shape) or any(
            e not in (-1, f) for e, f in zip(shape, found, strict=True)
        ):
            return f"{name}.npy has shape {found}, expected {shape}"
        if payload != int(np.prod(found)) * dtype.itemsize:
            return f"{name}.npy holds {payload:,} bytes, its shape {found} needs " + str(
                int(np.prod(found)) * dtype.itemsize
            )
    return None


def cache_problem(path: Path, meta: dict[str, Any], *, verify: bool = False) -> str | None:
    """Check a built cache before it is trusted: structure, then contents.

    First :func:`cache_damage` (headers and sizes). Then each file whose modification time
    differs from the one recorded at build time (or, with ``verify``, every file) is
    hashed and compared with its recorded checksum; a file that was touched but still
    matches gets its new time recorded, so the next check is cheap again. A cache without
    recorded checksums (built by neurotwin before they existed) passes on its structure
    alone, unless ``verify`` asks for its contents.

    Parameters
    ----------
    path
        The cache folder.
    meta
        Its parsed ``meta.json``.
    verify
        Hash every file, whatever its modification time.

    Returns
    -------
    str or None
        What is wrong (``"the cache is damaged (...)"``), or None for a sound cache.
    """
    damage = cache_damage(path, meta)
    if damage is not None:
        return f"the cache is damaged ({damage})"
    files = meta.get("files")
    if not isinstance(files, dict) or not files:
        if verify:
            return (
                "the cache records no checksums (built by an older neurotwin), so its "
                "contents cannot be verified"
            )
        return None
    expected = {f"{name}.npy" for name in _expected_files(meta)}
    if set(files) != expected:
        return f"the cache is damaged (meta.json records checksums of {sorted(files)})"
    touched = False
    for name, recorded in files.items():
        file = path / name
        try:
            mtime = os.stat(file).st_mtime_ns
            if not verify and mtime == recorded["mtime_ns"]:
                continue
            if file_checksum(file) != recorded[CHECKSUM]:
                return f"the cache is damaged ({name} changed since it was built)"
        except (KeyError, TypeError):
            return f"the cache is damaged (meta.json garbles the checksum of {name})"
        except OSError as exc:
            return f"the cache is damaged ({name} cannot be read: {exc.strerror or exc})"
        if mtime != recorded["mtime_ns"]:
            recorded["mtime_ns"], touched = mtime, True
    if touched:
        write_meta(path, meta)
    return None


def file_checksum(path: Path) -> str:
    """Return the :data:`CHECKSUM` hex digest of a file, read in chunks.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    str
        Its hex digest.

    Raises
    ------
    OSError
        When it cannot be read.
    """
    digest = hashlib.new(CHECKSUM)
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_statistics(recording: Recording) -> None:
    """Refuse a recording whose statistics cannot normalise it, before it is cached.

    Applies :meth:`Recording.statistics_problems` (the checks of ``validate``, the loaders
    and the scorer) to every field that has statistics; fields without statistics pass
    (``validate`` warns about them, normalising them refuses).

    Parameters
    ----------
    recording
        An open recording.

    Raises
    ------
    RecordingError
        Naming the statistics file that is wrong and how.
    """
    available = set(recording.statistics_fields)
    for field in recording.fields:
        if field in available:
            recording.statistics(field)


def _publish(tmp: Path, path: Path) -> None:
    """Move a finished build into place, replacing a stale cache."""
    try:
        atomic.publish(tmp, path)
    except OSError:
        # another process published the same cache first; theirs is as good as ours
        if read_meta(path) is None:
            raise


def _build(
    recording: Recording,
    hw: tuple[int, int],
    tmp: Path,
    fingerprint: str,
    progress: bool,
    preprocessing: str = "neurotwin",
) -> dict[str, Any]:
    tmp.mkdir(parents=True)
    shapes = stacked_shapes(recording, hw)
    # Trials arrive in order, so each field is written as one sequential .npy stream: a
    # header, then chunk after chunk (no memory map, whose dirty pages would count as ours).
    stack = contextlib.ExitStack()
    out = {
        field: HashingWriter(stack.enter_context(open(tmp / f"{field}.npy", "wb")))
        for field in shapes
    }
    for field, handle in out.items():
        header = {"descr": "<f4", "fortran_order": False, "shape": shapes[field]}
        np.lib.format.write_array_header_2_0(handle, header)
    n = recording.n_trials
    static = not recording.layout.has_frames
    stimulus = recording.layout.stimulus
    trial_bytes = sum(int(np.prod(recording.trial_shape(f))) * 4 for f in recording.fields)
    chunk = max(1, min(n, CHUNK_BYTES // max(trial_bytes, 1)))
    lengths = np.empty(n, dtype=np.int64)
    nonzero = np.zeros(n, dtype=bool)

    def load(index: int) -> dict[str, np.ndarray]:
        arrays, problems = check_trial(recording, index)
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            raise RecordingError(errors)
        return arrays

    bar = progress_bar(progress, total=n, desc=f"caching {recording.key}", unit="trial")
    with stack, ThreadPoolExecutor(max_workers=4) as pool:
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            trials = list(pool.map(load, range(start, stop)))
            for field in recording.fields:
                block = np.stack([t[field] for t in trials]).astype(np.float32, copy=False)
                if field == stimulus:
                    if not static:
                        block = np.moveaxis(block, -1, 1)  # (k, H, W, T) -> (k, T, H, W)
                    if block.shape[-2:] != hw:
                        block = (
                            kit_rescale(block, hw)
                            if preprocessing == "kit"
                            else resize_images(block, hw)
                        )
                elif not static:
                    block = np.swapaxes(block, 1, 2)  # (k, C, T) -> (k, T, C)
                out[field].write(np.ascontiguousarray(block, dtype="<f4").tobytes())
                if field == "responses":
                    nonzero[start:stop] = np.nan_to_num(block).reshape(stop - start, -1).any(1)
            lengths[start:stop] = [1 if static else first_nan_frame(t[stimulus]) for t in trials]
            bar.update(stop - start)
    bar.close()
    np.save(tmp / "lengths.npy", lengths)
    files = {
        f"{field}.npy": file_record(tmp / f"{field}.npy", out[field].hexdigest()) for field in out
    }
    files["lengths.npy"] = file_record(tmp / "lengths.npy", file_checksum(tmp / "lengths.npy"))
    tiers = recording.tiers
    withheld = [t for t in recording.tier_counts if not nonzero[tiers == t].any()]
    meta = {
        "format": CACHE_FORMAT,
        "kind": recording.kind,
        "name": recording.name,
        "key": recording.key,
        "source": recording.location,
        "fingerprint": fingerprint,
        "n_trials": n,
        "n_neurons": recording.n_neurons,
        "n_frames": recording.n_frames,
        "stimulus_hw": list(hw),
        "source_hw": list(recording.stimulus_hw),
        "fields": list(recording.fields),
        "withheld_tiers": withheld,
        "preprocessing": preprocessing,
        "files": files,
        "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    return meta


__all__ = [
    "CACHE_FORMAT",
    "CHECKSUM",
    "CHUNK_BYTES",
    "HASH_CHUNK",
    "LEFTOVER_AGE",
    "PREPROCESSINGS",
    "CacheError",
    "RecordingCache",
    "cache_bytes",
    "cache_damage",
    "cache_for",
    "cache_problem",
    "check_statistics",
    "default_cache_dir",
    "file_checksum",
    "remove_leftovers",
]
