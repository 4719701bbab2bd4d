"""Submission files of both releases, written and read.

2022: two CSV files per track (``submission_file_live_test.csv``,
``submission_file_final_test.csv``) with columns ``trial_indices``, ``image_ids``,
``prediction`` (a text list of one float per neuron) and ``neuron_ids`` (a text list of
unit ids, the same in every row). 2023: one parquet file per phase, brotli-compressed, with
columns ``mouse``, ``trial_indices``, ``prediction`` (``n_neurons`` lists of ``T - 50`` floats)
and ``neuron_ids``, shipped in one zip that holds both files at its root.

Reading never trusts the order of rows or neurons: :func:`align_static` and
:func:`align_video` align them to the ground truth by id and report every problem found
(up to a limit) in one :class:`~neurotwin.scoring.errors.SubmissionError`. Zips are checked
before anything is extracted (:func:`check_zip`).
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from neurotwin.scoring.errors import ProblemList, SubmissionError, quote
from neurotwin.scoring.tracks import PHASES, Track, get_track, list_tracks
from neurotwin.scoring.truth import MouseTruth, TierTruth, Truth

STATIC_COLUMNS = ("trial_indices", "image_ids", "prediction", "neuron_ids")
VIDEO_COLUMNS = ("mouse", "trial_indices", "prediction", "neuron_ids")
#: An upload may hold at most this many bytes per value it must predict (plus a margin):
#: text needs about 20, parquet under 8; anything far beyond is refused before extraction.
MAX_BYTES_PER_VALUE = 64
MAX_BYTES_MARGIN = 16 << 20
#: Entries of a zip that are packaging debris and are ignored.
_DEBRIS = ("__MACOSX/", ".DS_Store")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_BOM = b"\xef\xbb\xbf"
_ARCHIVE_SUFFIXES = (".zip", ".tar", ".tgz", ".gz", ".bz2", ".xz", ".7z", ".rar", ".zst")


@dataclass
class StaticPredictions:
    """One 2022 CSV file's content, in file order.

    Attributes
    ----------
    trial_ids
        ``(n_rows,)`` str ``trial_indices``.
    image_ids
        ``(n_rows,)`` str ``image_ids``.
    neuron_ids
        ``(n_neurons,)`` int64, the order of every prediction row.
    values
        ``(n_rows, n_neurons)`` float32 predictions in the standardised unit.
    """

    trial_ids: np.ndarray
    image_ids: np.ndarray
    neuron_ids: np.ndarray
    values: np.ndarray


@dataclass
class VideoPredictions:
    """One 2023 parquet file's content, in file order.

    Attributes
    ----------
    mice
        ``(n_rows,)`` str recording folder name of each row.
    trial_ids
        ``(n_rows,)`` str ``trial_indices``.
    neuron_ids
        Per mouse, the unit ids in the order of that mouse's prediction rows.
    values
        Per row, ``(n_neurons, T - 50)`` float32 predictions.
    """

    mice: np.ndarray
    trial_ids: np.ndarray
    neuron_ids: dict[str, np.ndarray]
    values: list[np.ndarray]


# ---------------------------------------------------------------------- writing
def _atomic_write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _text_lists(values: np.ndarray, fmt: str) -> list[str]:
    """Format each row of a 2-D array as ``[v0, v1, ...]``."""
    row_fmt = "[" + ", ".join([fmt] * values.shape[1]) + "]"
    return [row_fmt % tuple(row) for row in values.tolist()]


def static_csv_bytes(predictions: StaticPredictions) -> bytes:
    """Return the 2022 CSV text of ``predictions`` (floats with 9 significant digits).

    Parameters
    ----------
    predictions
        The rows to write.

    Returns
    -------
    bytes
        UTF-8 CSV with a header line; list columns are quoted.
    """
    values = np.asarray(predictions.values, dtype=np.float32).astype(np.float64)
    ids = "[" + ", ".join(str(int(i)) for i in predictions.neuron_ids) + "]"
    preds = _text_lists(values, "%.9g")
    out = io.StringIO()
    out.write(",".join(STATIC_COLUMNS) + "\n")
    for t, im, p in zip(predictions.trial_ids, predictions.image_ids, preds, strict=True):
        out.write(f'{t},{im},"{p}","{ids}"\n')
    return out.getvalue().encode()


def write_static_csv(path: str | os.PathLike[str], predictions: StaticPredictions) -> Path:
    """Write one 2022 CSV submission file atomically.

    Parameters
    ----------
    path
        The file, normally named as the track's ``submission_files`` say.
    predictions
        The rows to write.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    return _atomic_write(Path(path), static_csv_bytes(predictions))


def video_parquet_bytes(predictions: VideoPredictions) -> bytes:
    """Return one 2023 parquet file (brotli) holding ``predictions``.

    Parameters
    ----------
    predictions
        The rows to write.

    Returns
    -------
    bytes
        The parquet file.
    """
    rows = [np.asarray(v, dtype=np.float32) for v in predictions.values]
    n_neurons = np.array([r.shape[0] for r in rows], dtype=np.int64)
    lengths = np.array([r.shape[1] for r in rows], dtype=np.int64)
    outer = np.concatenate([[0], np.cumsum(n_neurons)]).astype(np.int32)
    inner = np.concatenate([[0], np.cumsum(np.repeat(lengths, n_neurons))]).astype(np.int64)
    flat = np.concatenate([r.ravel() for r in rows]) if rows else np.zeros(0, np.float32)
    series = pa.LargeListArray.from_arrays(pa.array(inner), pa.array(flat))
    prediction = pa.ListArray.from_arrays(pa.array(outer), series)
    ids = [predictions.neuron_ids[str(m)] for m in predictions.mice]
    id_offsets = np.concatenate([[0], np.cumsum([len(i) for i in ids])]).astype(np.int32)
    flat_ids = np.concatenate(ids).astype(np.int64) if ids else np.zeros(0, np.int64)
    neuron_ids = pa.ListArray.from_arrays(pa.array(id_offsets), pa.array(flat_ids))
    table = pa.table(
        {
            "mouse": pa.array(np.asarray(predictions.mice).astype(str).tolist(), pa.string()),
            "trial_indices": pa.array(
                np.asarray(predictions.trial_ids).astype(str).tolist(), pa.string()
            ),
            "prediction": prediction,
            "neuron_ids": neuron_ids,
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="brotli")
    return sink.getvalue()


def write_submission(
    track: str | Track,
    dest: str | os.PathLike[str],
    predictions: Mapping[str, StaticPredictions | VideoPredictions],
) -> Path:
    """Write a track's submission in the competition's layout.

    Parameters
    ----------
    track
        The track.
    dest
        Static tracks: a folder that receives the two CSV files. Video tracks: the zip to
        write, holding the two parquet files at its root.
    predictions
        Per phase (``"live"``, ``"final"``), the predictions.

    Returns
    -------
    pathlib.Path
        The folder or zip written.
    """
    track = get_track(track)
    dest = Path(dest)
    missing = [p for p in PHASES if p not in predictions]
    if missing:
        raise SubmissionError(
            ProblemList.single(str(dest), f"predictions for phase(s) {missing} are missing")
        )
    if track.kind == "static":
        if not all(isinstance(predictions[p], StaticPredictions) for p in PHASES):
            raise TypeError(f"track {track.identifier} needs StaticPredictions")
        # both files are written into a temporary folder first and moved together, so a
        # full disk leaves the previous submission (or nothing), never one file of two
        dest.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".submission-", dir=dest))
        try:
            for phase in PHASES:
                pred = predictions[phase]
                assert isinstance(pred, StaticPredictions)
                write_static_csv(tmp / track.submission_files[phase], pred)
            for phase in PHASES:
                name = track.submission_files[phase]
                os.replace(tmp / name, dest / name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return dest
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for phase in PHASES:
            pred = predictions[phase]
            if not isinstance(pred, VideoPredictions):
                raise TypeError(f"track {track.identifier} needs VideoPredictions")
            zf.writestr(track.submission_files[phase], video_parquet_bytes(pred))
    return _atomic_write(dest, buffer.getvalue())


# ---------------------------------------------------------------------- parsing 2022 CSV
def _parse_number_lists(
    column: list[str], dtype: type, what: str, name: str, problems: ProblemList
) -> np.ndarray | None:
    """Parse a column of ``[a, b, ...]`` texts into a 2-D array, vectorised.

    The fast path hands every row's inside to numpy's C text parser at once; only when it
    fails is each row examined to report what is wrong (brackets, length, non-numbers).
    """
    n_rows = len(column)
    inner: list[str] = []
    bad_brackets = False
    for r, text in enumerate(column):
        text = text.strip() if text is not None else ""
        if len(text) < 2 or text[0] != "[" or text[-1] != "]":
            problems.add(f"{name} line {r + 2}", f"{what} is not a list like [0.1, 0.2, ...]")
            bad_brackets = True
            inner.append("")
        else:
            inner.append(text[1:-1])
    if bad_brackets:
        return None
    odd = [r for r, s in enumerate(inner) if not s.isascii() or "_" in s]
    for r in odd[: problems.limit]:
        problems.add(
            f"{name} line {r + 2}",
            f"{what} holds characters no number has ('_' or non-ASCII): {quote(inner[r])}",
        )
    if odd:
        return None
    if n_rows and all(s.strip() for s in inner):
        try:
            arr: np.ndarray = np.loadtxt(
                io.StringIO("\n".join(inner)),
                delimiter=",",
                dtype=dtype,
                comments=None,
                ndmin=2,
            )
            if arr.shape[0] == n_rows:
                return arr
        except (ValueError, OverflowError):
            pass
    # slow path: find every problem, row by row
    before = len(problems)
    expected = None
    rows: list[np.ndarray] = []
    for r, text in enumerate(inner):
        cells = text.split(",") if text.strip() else []
        if expected is None:
            expected = len(cells)
        where = f"{name} line {r + 2}"
        if len(cells) != expected:
            problems.add(where, f"{what} has {len(cells)} values, expected {expected} like line 2")
            continue
        if not cells:
            problems.add(where, f"{what} is an empty list")
            continue
        row = []
        for k, cell in enumerate(cells):
            try:
                value = dtype(cell.strip())
            except ValueError:
                problems.add(where, f"{what} value {k} ({quote(cell.strip())}) is not a number")
                break
            if dtype is int and not _INT64_MIN <= value <= _INT64_MAX:
                problems.add(
                    where, f"{what} value {k} ({quote(cell.strip())}) is out of the int64 range"
                )
                break
            row.append(value)
        else:
            rows.append(np.asarray(row, dtype=np.int64 if dtype is int else np.float64))
    if len(problems) == before and len(rows) == n_rows:
        return np.stack(rows)
    return None


def read_static_csv(
    data: bytes | str | os.PathLike[str],
    name: str | None = None,
    problems: ProblemList | None = None,
) -> StaticPredictions:
    """Parse one 2022 CSV submission file.

    Parameters
    ----------
    data
        The file's bytes, or its path.
    name
        How messages name the file (its path by default).
    problems
        Where problems of the predictions (text that is not a number, NaN or infinite
        values) are recorded while the rows are still returned (unparsable values as NaN), so
        that alignment problems are reported in the same answer. By default they are raised.

    Returns
    -------
    StaticPredictions
        The rows in file order.

    Raises
    ------
    SubmissionError
        Listing every problem: an empty file, text that is not UTF-8, missing columns, lists
        that are not lists, rows of the wrong length, text that is not a number (``1_000``
        and non-ASCII digits included), neuron ids beyond int64, predictions that are NaN or
        infinite once converted to float32 (the scorer's precision), ``neuron_ids`` that
        differ between rows.
    """
    if not isinstance(data, bytes):
        name = name or str(data)
        data = _read_file(Path(data))
    name = name or "submission"
    own = ProblemList() if problems is None else None
    values_problems = own if own is not None else problems
    assert values_problems is not None
    parse = ProblemList(values_problems.limit)
    if data.startswith(_BOM):
        data = data[len(_BOM) :]  # a spreadsheet's UTF-8 byte-order mark
    if not data.strip():
        raise SubmissionError(ProblemList.single(name, "is empty"))
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SubmissionError(
            ProblemList.single(
                name, f"is not UTF-8 text (line {line}, byte {exc.start}: {exc.reason})"
            )
        ) from exc
    try:
        table = pa_csv.read_csv(
            io.BytesIO(data),
            read_options=pa_csv.ReadOptions(block_size=max(len(data) + 1, 1 << 20)),
            convert_options=pa_csv.ConvertOptions(
                column_types={c: pa.string() for c in STATIC_COLUMNS}, strings_can_be_null=False
            ),
        )
    except (pa.ArrowException, UnicodeDecodeError, ValueError) as exc:
        raise SubmissionError(
            ProblemList.single(name, f"is not a readable CSV file ({quote(exc, 160)})")
        ) from exc
    missing = [c for c in STATIC_COLUMNS if c not in table.column_names]
    if missing:
        found = [quote(c) for c in table.column_names[:8]]
        parse.add(
            name,
            f"misses column(s) {missing}; a 2022 submission has columns {list(STATIC_COLUMNS)}"
            f" (found {', '.join(found)})",
        )
        parse.raise_if_any()
    if table.num_rows == 0:
        raise SubmissionError(ProblemList.single(name, "holds no rows"))
    ids_col = table.column("neuron_ids").to_pylist()
    first_ids = ids_col[0]
    ids_rows = [first_ids]
    differing = [r for r, s in enumerate(ids_col) if s != first_ids]
    if differing:
        ids_rows = ids_col
    ids = _parse_number_lists(ids_rows, int, "neuron_ids", name, parse)
    neuron_ids = np.zeros(0, dtype=np.int64)
    if ids is not None:
        neuron_ids = ids[0].astype(np.int64)
        for r in np.flatnonzero((ids != ids[0]).any(axis=1)) if differing else []:
            parse.add(
                f"{name} line {r + 2}",
                "neuron_ids differ from line 2's; every row must list the same neurons",
            )
        if len(np.unique(neuron_ids)) != len(neuron_ids):
            parse.add(f"{name} line 2", "neuron_ids hold duplicates")
    values = _parse_number_lists(
        table.column("prediction").to_pylist(), float, "prediction", name, parse
    )
    if values is not None and ids is not None and values.shape[1] != len(neuron_ids):
        parse.add(
            name,
            f"prediction rows hold {values.shape[1]} values but neuron_ids list "
            f"{len(neuron_ids)} neurons",
        )
    if len(parse) and (own is not None or ids is None or len(neuron_ids) == 0):
        parse.raise_if_any()
    if len(parse):
        # the predictions cannot be parsed, but the rows can still be aligned: report both
        for p in parse.items:
            values_problems.add(p.where, p.message)
        values_problems.dropped += parse.dropped
        values32 = np.full((table.num_rows, len(neuron_ids)), np.nan, np.float32)
    else:
        assert values is not None
        with np.errstate(over="ignore"):
            values32 = values.astype(np.float32)
        _check_finite(values32, lambda r: f"{name} line {r + 2}", values_problems, values)
    if own is not None:
        own.raise_if_any()
    return StaticPredictions(
        trial_ids=np.asarray(table.column("trial_indices").to_pylist(), dtype=str),
        image_ids=np.asarray(table.column("image_ids").to_pylist(), dtype=str),
        neuron_ids=neuron_ids,
        values=values32,
    )


def _check_finite(
    values: np.ndarray, where: object, problems: ProblemList, source: np.ndarray | None = None
) -> None:
    """Report every NaN or infinite prediction (``where(row)`` names the row).

    ``values`` are the predictions as the scorer uses them (float32); ``source``, when
    given, holds the values as written, to tell a finite value that overflows float32.
    """
    bad = ~np.isfinite(values)
    if not bad.any():
        return
    rows = np.flatnonzero(bad.reshape(len(values), -1).any(axis=1))
    for r in rows[: problems.limit]:
        cols = np.flatnonzero(bad[r].ravel())
        written = values[r].ravel() if source is None else source[r].ravel()
        if np.isnan(written[cols]).all():
            kinds = "NaN"
        elif np.isfinite(written[cols]).any():
            kinds = "NaN, infinite or beyond float32's range (|x| > 3.4e38)"
        else:
            kinds = "NaN or infinite"
        assert callable(where)
        problems.add(
            where(int(r)),
            f"{len(cols)} prediction(s) are {kinds} (first at position {int(cols[0])})",
        )


def _read_file(path: Path, max_bytes: int | None = None) -> bytes:
    """Read a submission file that is not a link, refusing one beyond ``max_bytes``."""
    if path.is_symlink():
        raise SubmissionError(ProblemList.single(str(path), "is a link; links are not followed"))
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise SubmissionError(
                ProblemList.single(
                    str(path),
                    f"holds {size} bytes, far beyond the {max_bytes} this phase can need; "
                    "refused before reading",
                )
            )
        return path.read_bytes()
    except OSError as exc:
        raise SubmissionError(
            ProblemList.single(str(path), f"cannot be read ({exc.strerror or exc})")
        ) from exc


# ---------------------------------------------------------------------- parsing 2023 parquet
@dataclass(frozen=True)
class ReadLimits:
    """The most a reader decodes from one submission file: what its phase can need.

    Checked on a file's metadata before anything is decoded, so a small file that would
    decompress into gigabytes is refused at once.

    Attributes
    ----------
    max_rows
        Rows (trials).
    max_values
        Prediction values (all neurons, frames and rows).
    max_neurons
        Neuron ids per row.
    """

    max_rows: int
    max_values: int
    max_neurons: int

    @classmethod
    def for_tier(cls, truth: Truth, tier: str) -> ReadLimits:
        """Return twice what a full submission of ``tier`` holds, plus a margin.

        Parameters
        ----------
        truth
            The ground truth.
        tier
            The scored tier.

        Returns
        -------
        ReadLimits
            Room for duplicated rows to be reported, not for a decompression bomb.
        """
        rows = sum(m.tiers[tier].n_trials for m in truth.mice if tier in m.tiers)
        neurons = max((len(m.unit_ids) for m in truth.mice), default=0)
        return cls(
            max_rows=2 * rows + 64,
            max_values=2 * truth.n_values(tier) + (1 << 20),
            max_neurons=2 * neurons + 64,
        )


def _check_parquet_metadata(
    meta: pq.FileMetaData, columns: list[str], limits: ReadLimits, name: str
) -> None:
    """Refuse a parquet file whose metadata says it decodes beyond ``limits``."""
    problems = ProblemList()
    if meta.num_rows > limits.max_rows:
        problems.add(
            name,
            f"holds {meta.num_rows} rows, far beyond the {limits.max_rows} this phase can "
            "need; refused before decoding",
        )
    values: dict[str, int] = {}
    sizes: dict[str, int] = {}
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            chunk = group.column(c)
            top = chunk.path_in_schema.split(".")[0]
            values[top] = values.get(top, 0) + int(chunk.num_values)
            sizes[top] = sizes.get(top, 0) + int(chunk.total_uncompressed_size)
    bounds = {
        "prediction": limits.max_values,
        "neuron_ids": limits.max_rows * limits.max_neurons,
        "mouse": limits.max_rows,
        "trial_indices": limits.max_rows,
    }
    for col in columns:
        if values.get(col, 0) > bounds[col]:
            problems.add(
                name,
                f"column {col} holds {values[col]} values, far beyond the {bounds[col]} this "
                "phase can need; refused before decoding",
            )
        if col in ("mouse", "trial_indices") and sizes.get(col, 0) > 256 * limits.max_rows + (
            1 << 16
        ):
            problems.add(
                name,
                f"column {col} decodes to {sizes[col]} bytes, far beyond names and ids; "
                "refused before decoding",
            )
    problems.raise_if_any()


def read_video_parquet(
    data: bytes | str | os.PathLike[str],
    name: str | None = None,
    limits: ReadLimits | None = None,
    problems: ProblemList | None = None,
) -> VideoPredictions:
    """Parse one 2023 parquet submission file.

    Parameters
    ----------
    data
        The file's bytes, or its path.
    name
        How messages name the file.
    limits
        The most the file may decode to, checked on its metadata before decoding
        (:meth:`ReadLimits.for_tier`); None reads whatever the file holds.
    problems
        Where NaN or infinite predictions are recorded while the rows are still returned,
        so that alignment problems are reported in the same answer; raised by default.

    Returns
    -------
    VideoPredictions
        The rows in file order.

    Raises
    ------
    SubmissionError
        Listing every problem: not parquet, beyond ``limits``, missing columns or wrong
        types, rows whose neuron series differ in length or hold no frames, NaN or infinite
        predictions, neuron ids that differ between rows of one mouse.
    """
    if not isinstance(data, bytes):
        name = name or str(data)
        data = _read_file(Path(data))
    name = name or "submission"
    if not data:
        raise SubmissionError(ProblemList.single(name, "is empty"))
    try:
        pf = pq.ParquetFile(pa.BufferReader(data))
        columns = [c for c in VIDEO_COLUMNS if c in pf.schema_arrow.names]
        if limits is not None:
            _check_parquet_metadata(pf.metadata, columns, limits, name)
        table = pf.read(columns=columns)
    except SubmissionError:
        raise
    except (pa.ArrowException, OSError, ValueError, TypeError, IndexError) as exc:
        raise SubmissionError(
            ProblemList.single(name, f"is not a readable parquet file ({quote(exc, 160)})")
        ) from exc
    external = problems
    problems = ProblemList()
    values_problems = external if external is not None else problems
    missing = [c for c in VIDEO_COLUMNS if c not in table.column_names]
    if missing:
        problems.add(
            name, f"misses column(s) {missing}; a 2023 submission has columns {list(VIDEO_COLUMNS)}"
        )
        problems.raise_if_any()
    if table.num_rows == 0:
        raise SubmissionError(ProblemList.single(name, "holds no rows"))
    pred = table.column("prediction").combine_chunks()
    if not (pa.types.is_list(pred.type) or pa.types.is_large_list(pred.type)) or not _is_float_list(
        pred.type.value_type
    ):
        raise SubmissionError(
            ProblemList.single(
                name, f"column prediction has type {pred.type}, expected lists of lists of floats"
            )
        )
    if pred.null_count or pred.flatten().null_count or pred.flatten().flatten().null_count:
        problems.add(name, "column prediction holds missing (null) entries")
        problems.raise_if_any()
    outer = _offsets(pred)
    series = pred.flatten()
    inner = _offsets(series)
    with np.errstate(over="ignore"):
        flat = series.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    n_neurons = np.diff(outer)
    series_len = np.diff(inner)
    mice = np.asarray([str(m) for m in table.column("mouse").to_pylist()], dtype=str)
    trial_ids = np.asarray([str(t) for t in table.column("trial_indices").to_pylist()], dtype=str)
    values: list[np.ndarray] = []
    for r in range(table.num_rows):
        where = f"{name} row {r}"
        lens = series_len[outer[r] : outer[r + 1]]
        if n_neurons[r] == 0 or lens.max() == 0:
            what = "holds no neurons" if n_neurons[r] == 0 else "holds 0 frames per neuron"
            problems.add(where, f"prediction {what}")
            values.append(np.zeros((0, 0), np.float32))
            continue
        if lens.min() != lens.max():
            problems.add(
                where,
                f"prediction series differ in length ({lens.min()}..{lens.max()} frames); "
                "every neuron needs T - 50 values",
            )
            values.append(np.zeros((0, 0), np.float32))
            continue
        start, stop = inner[outer[r]], inner[outer[r + 1]]
        row = flat[start:stop].reshape(int(n_neurons[r]), int(lens[0]))
        _check_finite(row[None], lambda _r, w=where: w, values_problems)
        values.append(row)
    neuron_ids = _video_neuron_ids(table, mice, name, problems)
    for r, (m, row) in enumerate(zip(mice, values, strict=True)):
        ids = neuron_ids.get(str(m))
        if ids is not None and row.size and row.shape[0] != len(ids):
            problems.add(
                f"{name} row {r}",
                f"prediction holds {row.shape[0]} neurons but neuron_ids list {len(ids)}",
            )
    problems.raise_if_any()
    return VideoPredictions(mice=mice, trial_ids=trial_ids, neuron_ids=neuron_ids, values=values)


def _is_float_list(value_type: pa.DataType) -> bool:
    return (pa.types.is_list(value_type) or pa.types.is_large_list(value_type)) and (
        pa.types.is_floating(value_type.value_type)
    )


def _offsets(array: pa.Array) -> np.ndarray:
    offsets = array.offsets.to_numpy().astype(np.int64)
    return offsets - offsets[0]


def _video_neuron_ids(
    table: pa.Table, mice: np.ndarray, name: str, problems: ProblemList
) -> dict[str, np.ndarray]:
    """Return each mouse's neuron ids, reporting rows whose ids differ from its first row."""
    col = table.column("neuron_ids").combine_chunks()
    if not (pa.types.is_list(col.type) or pa.types.is_large_list(col.type)) or not (
        pa.types.is_integer(col.type.value_type)
    ):
        problems.add(name, f"column neuron_ids has type {col.type}, expected lists of integers")
        return {}
    off = _offsets(col)
    raw = col.flatten().to_numpy(zero_copy_only=False)
    if raw.dtype.kind == "u" and raw.size and raw.max() > _INT64_MAX:
        problems.add(name, "column neuron_ids holds ids beyond the int64 range")
        return {}
    flat = raw.astype(np.int64)
    out: dict[str, np.ndarray] = {}
    first_row: dict[str, int] = {}
    for r, m in enumerate(mice.tolist()):
        ids = flat[off[r] : off[r + 1]]
        if m not in out:
            out[m], first_row[m] = ids, r
            if len(np.unique(ids)) != len(ids):
                problems.add(f"{name} row {r}", "neuron_ids hold duplicates")
        elif not np.array_equal(ids, out[m]):
            problems.add(
                f"{name} row {r}",
                f"neuron_ids differ from row {first_row[m]} of mouse {quote(m)}; every row of "
                "a mouse must list the same neurons",
            )
    return out


# ---------------------------------------------------------------------- alignment
def _neuron_order(
    submitted: np.ndarray, truth_ids: np.ndarray, where: str, problems: ProblemList
) -> np.ndarray | None:
    """Return the positions of the truth's neurons in the submitted order, or None."""
    submitted = np.asarray(submitted, dtype=np.int64)
    truth_ids = np.asarray(truth_ids, dtype=np.int64)
    unknown = np.setdiff1d(submitted, truth_ids)
    absent = np.setdiff1d(truth_ids, submitted)
    if unknown.size:
        problems.add(
            where,
            f"{unknown.size} unknown neuron id(s) (e.g. {unknown[:5].tolist()}) not in the "
            "ground truth",
        )
    if absent.size:
        problems.add(where, f"{absent.size} neuron id(s) missing (e.g. {absent[:5].tolist()})")
    if unknown.size or absent.size:
        return None
    order = np.argsort(submitted, kind="stable")
    return order[np.searchsorted(submitted[order], truth_ids)]


def _file_key(text: str) -> str | None:
    """Return the file index a trial id names (``11``, ``'11'``, ``'11.npy'``), or None."""
    stem = text[:-4] if text.endswith(".npy") else text
    return str(int(stem)) if stem.isascii() and stem.isdigit() else None


def _trial_keys(
    submitted: np.ndarray, truth: TierTruth, where: str, problems: ProblemList
) -> tuple[list[str], str]:
    """Translate submitted trial ids to the truth's ``trial_idx`` values.

    Two conventions exist: ``meta/trials/trial_idx`` values (neurotwin, the 2022 kit) and
    the trial's file index, as a number or a file name ``N.npy`` (the 2023 kit). The
    convention that every submitted id fits is used; when both fit, ``trial_idx``; when
    neither fits, the one more ids fit, and a problem says how many fit each.

    Returns
    -------
    tuple
        The ids as ``trial_idx`` values (unmatched ids unchanged) and the convention used.
    """
    ids = [str(t).strip() for t in submitted.tolist()]
    by_trial = set(truth.trial_ids.tolist())
    if truth.file_indices is None:
        return ids, "trial_idx"
    by_file = {
        str(int(f)): t
        for f, t in zip(truth.file_indices.tolist(), truth.trial_ids.tolist(), strict=True)
    }
    keys = [_file_key(t) for t in ids]
    n_trial = sum(t in by_trial for t in ids)
    n_file = sum(k is not None and k in by_file for k in keys)
    named = any(t.endswith(".npy") for t in ids)
    if n_trial == len(ids) and not named:
        return ids, "trial_idx"
    if n_file == len(ids) or (n_file > n_trial) or named:
        if n_file < len(ids):
            problems.add(
                where,
                f"trial_indices fit neither convention: {n_file} of {len(ids)} are file "
                f"indices of this tier's trials (the 2023 kit's 'N.npy' / N), {n_trial} are "
                "its meta/trials/trial_idx values",
            )
        out = [
            by_file[k] if k is not None and k in by_file else t
            for t, k in zip(ids, keys, strict=True)
        ]
        return out, "file_index"
    if n_trial < len(ids):
        problems.add(
            where,
            f"trial_indices fit neither convention: {n_trial} of {len(ids)} are "
            f"meta/trials/trial_idx values of this tier, {n_file} are file indices of its "
            "trials (the 2023 kit's 'N.npy' / N)",
        )
    return ids, "trial_idx"


def _trial_order(
    submitted: np.ndarray,
    truth: TierTruth,
    where_row: object,
    where: str,
    problems: ProblemList,
) -> tuple[np.ndarray, bool]:
    """Return each truth trial's row (-1: none) and whether all are predicted once.

    Extra, duplicated and missing trials are reported; ids may follow either trial-id
    convention (:func:`_trial_keys`).
    """
    assert callable(where_row)
    truth_ids = np.asarray(truth.trial_ids).astype(str)
    keys, convention = _trial_keys(np.asarray(submitted), truth, where, problems)
    raw = [str(t) for t in np.asarray(submitted).tolist()]
    lookup = {t: k for k, t in enumerate(truth_ids.tolist())}
    rows = np.full(len(truth_ids), -1, dtype=np.int64)
    ok = True
    what = "trial_idx value" if convention == "trial_idx" else "file index"
    for r, t in enumerate(keys):
        k = lookup.get(t)
        if k is None:
            problems.add(
                where_row(r),
                f"trial {quote(raw[r])} is not a scored trial of this tier (extra); read as a "
                f"{what}",
            )
            ok = False
        elif rows[k] >= 0:
            problems.add(
                where_row(r),
                f"trial {quote(raw[r])} is duplicated (first predicted at {where_row(rows[k])})",
            )
            ok = False
        else:
            rows[k] = r
    missing = truth_ids[rows < 0]
    if missing.size:
        problems.add(
            where,
            f"{missing.size} trial(s) of the tier are missing (e.g. trial_idx "
            f"{missing[:5].tolist()})",
        )
        ok = False
    return rows, ok


def align_static(
    predictions: StaticPredictions,
    mouse: MouseTruth,
    tier: str,
    name: str,
    problems: ProblemList,
) -> np.ndarray | None:
    """Align a 2022 file to the ground truth of one tier.

    Parameters
    ----------
    predictions
        The parsed file.
    mouse
        The ground truth of the recording.
    tier
        The scored tier the file predicts.
    name
        How messages name the file.
    problems
        Where problems are recorded.

    Returns
    -------
    numpy.ndarray or None
        ``(n_trials, n_neurons)`` in the truth's trial and neuron order; None on problems.
    """
    truth = mouse.tiers[tier]
    neurons = _neuron_order(predictions.neuron_ids, mouse.unit_ids, f"{name} neuron_ids", problems)
    rows, complete = _trial_order(
        predictions.trial_ids,
        truth,
        lambda r: f"{name} line {r + 2}",
        name,
        problems,
    )
    found = np.flatnonzero(rows >= 0)
    wrong = found[predictions.image_ids[rows[found]] != truth.stimulus_ids[found]]
    for k in wrong[: problems.limit]:
        problems.add(
            f"{name} line {rows[k] + 2}",
            f"image_ids is {quote(predictions.image_ids[rows[k]])} but trial "
            f"{str(truth.trial_ids[k])!r} showed image {str(truth.stimulus_ids[k])!r}",
        )
    if neurons is None or not complete or wrong.size:
        return None
    return predictions.values[rows][:, neurons]


def align_video(
    predictions: VideoPredictions,
    truth: Truth,
    tier: str,
    name: str,
    problems: ProblemList,
) -> dict[str, np.ndarray] | None:
    """Align a 2023 file to the ground truth of one tier, mouse by mouse.

    Parameters
    ----------
    predictions
        The parsed file.
    truth
        The track's ground truth.
    tier
        The scored tier the file predicts.
    name
        How messages name the file.
    problems
        Where problems are recorded.

    Returns
    -------
    dict or None
        Per mouse name, ``(n_trials, n_neurons, F)`` scored frames in the truth's order
        (NaN past each trial's scored frames); None on problems.
    """
    known = {m.name for m in truth.mice}
    submitted = set(predictions.mice.tolist())
    unknown = sorted(submitted - known)
    if unknown and not (submitted & known):
        problems.add(
            name,
            f"names mice {[quote(u) for u in unknown[:5]]} but the ground truth holds "
            f"{sorted(known)}: "
            "a file of another track or release?",
        )
        return None
    for r in np.flatnonzero(~np.isin(predictions.mice, list(known)))[: problems.limit]:
        problems.add(f"{name} row {r}", f"mouse {quote(predictions.mice[r])} is not scored here")
    out: dict[str, np.ndarray] = {}
    for mouse in truth.mice:
        t = mouse.tiers[tier]
        assert t.n_frames is not None and t.lengths is not None
        sel = np.flatnonzero(predictions.mice == mouse.name)
        if sel.size == 0:
            problems.add(name, f"mouse {mouse.name} has no predictions")
            continue
        neurons = _neuron_order(
            predictions.neuron_ids.get(mouse.name, np.zeros(0, np.int64)),
            mouse.unit_ids,
            f"{name} neuron_ids of mouse {mouse.name}",
            problems,
        )
        rows, complete = _trial_order(
            predictions.trial_ids[sel],
            t,
            lambda r, s=sel: f"{name} row {s[r]}",
            f"{name} mouse {mouse.name}",
            problems,
        )
        aligned = np.full(t.responses.shape, np.nan, dtype=np.float32)
        for k in np.flatnonzero(rows >= 0):
            r = sel[rows[k]]
            row = np.asarray(predictions.values[r])
            if row.ndim != 2 or row.shape[1] == 0:
                problems.add(
                    f"{name} row {r}", f"trial {str(t.trial_ids[k])!r} has no predicted frames"
                )
                continue
            need, most = int(t.n_frames[k]), max(int(t.lengths[k]) - 50, int(t.n_frames[k]))
            if not need <= row.shape[1] <= most:
                expected = f"{need}" if need == most else f"{need}..{most}"
                problems.add(
                    f"{name} row {r}",
                    f"trial {str(t.trial_ids[k])!r} has {row.shape[1]} frames per neuron, expected "
                    f"{expected} (its {int(t.lengths[k])} frames minus the first 50)",
                )
                continue
            if neurons is not None:
                aligned[k, :, :need] = row[neurons, :need]
        if neurons is not None and complete:
            out[mouse.name] = aligned
    return None if len(problems) else out


# ---------------------------------------------------------------------- opening uploads
def check_zip(
    path: str | os.PathLike[str], expected: Sequence[str], max_bytes: int, problems: ProblemList
) -> list[zipfile.ZipInfo]:
    """Check a zip before extracting anything from it.

    Refused: absolute paths, ``..`` components, links, nested archives, entries other than
    ``expected`` (``__MACOSX/`` debris aside) or not at the root, and a total uncompressed
    size beyond ``max_bytes``, a name that appears twice, and a zip holding none of
    ``expected``. A zip holding one phase's file (the 2023 bonus upload) is fine.

    Parameters
    ----------
    path
        The zip.
    expected
        The file names it may hold at its root (at least one, each at most once).
    max_bytes
        The largest total uncompressed size accepted.
    problems
        Where problems are recorded.

    Returns
    -------
    list of zipfile.ZipInfo
        The entries of the expected files, in ``expected`` order (those present).
    """
    name = str(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        problems.add(name, f"is not a readable zip ({exc})")
        return []
    with zf:
        infos = zf.infolist()
    found: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        member = info.filename
        where = f"{name}!{member}" if member in expected else f"{name}!{quote(member, 80)}"
        if any(member.startswith(d) or f"/{d}" in member for d in _DEBRIS):
            continue
        parts = PurePosixPath(member.replace("\\", "/")).parts
        if member.startswith(("/", "\\")) or (len(member) > 1 and member[1] == ":"):
            problems.add(where, "absolute path in a zip")
            continue
        if ".." in parts:
            problems.add(where, "'..' in a zip path")
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            problems.add(where, "links are not allowed in a submission zip")
            continue
        if info.is_dir():
            continue
        total += info.file_size
        if member in found:
            problems.add(where, "appears twice in the zip; which copy is meant is unclear")
            continue
        if member.lower().endswith(_ARCHIVE_SUFFIXES):
            problems.add(where, "nested archives are not allowed")
        elif member not in expected:
            base = PurePosixPath(member).name
            hint = (
                f"; {base} must sit at the zip's root"
                if base in expected
                else f"; expected {list(expected)}"
            )
            problems.add(where, f"unexpected file{hint}")
        else:
            found[member] = info
    if total > max_bytes:
        problems.add(
            name,
            f"uncompressed size {total} bytes is far beyond the {max_bytes} bytes this track "
            "can need; refused before extraction",
        )
    if not found:  # one phase's file alone is a valid upload; none at all is not
        for e in expected:
            problems.add(name, f"{e} is missing")
    return [found[e] for e in expected if e in found]


def max_upload_bytes(truth: Truth, track: Track) -> int:
    """Return the largest upload a track's submission may reasonably need.

    Parameters
    ----------
    truth
        The ground truth (it fixes how many values the phases hold).
    track
        The track.

    Returns
    -------
    int
        ``64`` bytes per predicted value of both phases plus 16 MiB.
    """
    values = sum(truth.n_values(track.tier(p)) for p in PHASES)
    return MAX_BYTES_PER_VALUE * values + MAX_BYTES_MARGIN


def open_upload(
    path: str | os.PathLike[str], track: Track, max_bytes: int
) -> dict[str, tuple[str, bytes]]:
    """Find the files of each phase in an upload: a file, a folder or a zip.

    Parameters
    ----------
    path
        One submission file (its name tells its phase), a folder holding the track's files,
        or a zip holding one or both of them at its root.
    track
        The track.
    max_bytes
        The largest total size accepted.

    Returns
    -------
    dict
        ``{phase: (name, bytes)}`` for each phase found.

    Raises
    ------
    SubmissionError
        On a missing or empty file, a file of the wrong track or release, a link inside a
        folder, an unsafe zip, or more bytes than the track can need.
    """
    path = Path(path)
    problems = ProblemList()
    files = track.submission_files
    out: dict[str, tuple[str, bytes]] = {}
    if not path.exists():
        what = "is a broken link" if path.is_symlink() else "does not exist"
        raise SubmissionError(ProblemList.single(str(path), what))
    if path.is_dir():
        total = 0
        for phase, fname in files.items():
            f = path / fname
            if f.is_symlink():
                problems.add(str(f), "is a link; links inside an upload are not followed")
            elif f.is_file():
                total += f.stat().st_size
                if total > max_bytes:
                    problems.add(
                        str(f),
                        f"brings the upload to {total} bytes, far beyond the {max_bytes} this "
                        "track can need; refused before reading",
                    )
                else:
                    out[phase] = (str(f), _read_file(f))
        if not out and not len(problems):
            problems.add(str(path), f"holds none of {list(files.values())}")
    elif not path.name.endswith((".csv", ".brotli", ".parquet")) and zipfile.is_zipfile(path):
        infos = check_zip(path, list(files.values()), max_bytes, problems)
        problems.raise_if_any()
        try:
            with zipfile.ZipFile(path) as zf:
                for info in infos:
                    member_phase = track.phase_of_file(info.filename)
                    assert member_phase is not None
                    with zf.open(info) as member:
                        data = member.read(info.file_size + 1)
                    if len(data) > info.file_size:
                        problems.add(f"{path}!{info.filename}", "is larger than its header says")
                    out[member_phase] = (f"{path}!{info.filename}", data)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            raise SubmissionError(
                ProblemList.single(str(path), f"a member cannot be extracted ({quote(exc, 120)})")
            ) from exc
    else:
        file_phase = track.phase_of_file(path.name)
        if file_phase is None:
            problems.add(str(path), _wrong_name(path.name, track))
        problems.raise_if_any()
        assert file_phase is not None
        out[file_phase] = (str(path), _read_file(path, max_bytes))
    for fname, data in out.values():
        if not data.strip():
            problems.add(fname, "is empty")
    problems.raise_if_any()
    return out


def _wrong_name(name: str, track: Track) -> str:
    owners = [t for t in list_tracks() if get_track(t).phase_of_file(name) is not None]
    expected = list(track.submission_files.values())
    if owners:
        other = [t for t in owners if get_track(t).kind != track.kind]
        what = "release" if other else "track"
        return (
            f"is a file of the {' / '.join(owners)} {what}, not of track {track.identifier} "
            f"(expected {expected})"
        )
    return f"file name does not tell its phase; track {track.identifier} expects {expected}"
