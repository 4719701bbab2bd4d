"""The 2023 submission file: a brotli-compressed parquet per phase, written and read.

Columns ``mouse``, ``trial_indices``, ``prediction`` (``n_neurons`` lists of ``T - 50``
floats) and ``neuron_ids``. pyarrow is imported only when a file is written or read.

Writing: brotli at quality :data:`BROTLI_LEVEL` (1) rather than Arrow's default (8), and the
prediction values encoded without first trying a dictionary (float predictions
almost never repeat, so the attempt is wasted work that Arrow abandons after 1 MiB). Float
predictions barely compress at any quality (random ones of 2,000 neurons x 60 trials x 250
frames: 105.1 MB at quality 1 without the attempt, 106.1 MB with Arrow's defaults), so the
file is written several times faster for the same decoded table; its bytes differ from
those Arrow's defaults give (docs/benchmarks.md). The prediction values are written with
parquet's BYTE_STREAM_SPLIT encoding (each float's four bytes in four streams: the sign and
exponent bytes compress, the low mantissa bytes are stored as they are; pyarrow reads it
since version 0.17, as do other readers that implement the encoding): a full-size phase file
is 8% smaller and decodes in about half the time, since brotli no longer entropy-decodes the
random mantissa bytes (docs/benchmarks.md). Rows are written in row groups of at most
:data:`ROW_GROUP_VALUES` prediction values (Arrow's default puts up to a million rows,
a whole submission, in one).

Reading: :func:`scan_video_parquet` checks a file by batches of rows, whatever its row
groups (a row group's pages are decoded as they are needed), keeping only the rows' ids and
shapes; :func:`iter_video_rows` reads the predictions of a checked file again, row by row,
for the scorer; :func:`read_video_parquet` keeps every row in memory.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from neurotwin.errors import NeurotwinError
from neurotwin.scoring.errors import ProblemList, SubmissionError, quote
from neurotwin.scoring.predictions import _INT64_MAX, VideoPredictions, _check_finite
from neurotwin.scoring.truth import Truth

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

VIDEO_COLUMNS = ("mouse", "trial_indices", "prediction", "neuron_ids")
#: Brotli quality of written files (see the module docstring).
BROTLI_LEVEL = 1
#: Columns tried with a dictionary encoding: the names, which repeat.
DICTIONARY_COLUMNS = ["mouse", "trial_indices"]
#: The prediction values' column in the file (the leaf of ``prediction``'s lists), written
#: with the BYTE_STREAM_SPLIT encoding (see the module docstring).
SPLIT_COLUMNS = ["prediction.list.element.list.element"]
#: Written row groups hold at most this many prediction values (64 MiB as float32; at least
#: one row), so that a reader that decodes whole row groups stays within bounded memory.
ROW_GROUP_VALUES = 1 << 24


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
    import pyarrow as pa
    import pyarrow.parquet as pq

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
    widest = int((n_neurons * lengths).max()) if len(rows) else 1
    pq.write_table(
        table,
        sink,
        row_group_size=max(1, ROW_GROUP_VALUES // max(widest, 1)),
        compression="brotli",
        compression_level=BROTLI_LEVEL,
        use_dictionary=DICTIONARY_COLUMNS,
        use_byte_stream_split=SPLIT_COLUMNS,
    )
    return sink.getvalue()


def video_parquet_files(predictions: Sequence[VideoPredictions]) -> list[bytes]:
    """Return :func:`video_parquet_bytes` of several files, written side by side.

    Arrow compresses without holding the GIL, so a submission's two phases are written
    in two threads.

    Parameters
    ----------
    predictions
        The files' rows, one entry per file.

    Returns
    -------
    list of bytes
        The parquet files, in the order of ``predictions``.
    """
    if len(predictions) < 2:
        return [video_parquet_bytes(p) for p in predictions]
    workers = min(len(predictions), os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(video_parquet_bytes, predictions))


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


#: Prediction values decoded at once while a file is streamed (16 MiB as float32): rows are
#: read in batches of about this many values, whatever the file's row groups.
BATCH_VALUES = 1 << 22
#: Bytes read from the file at once while a column chunk is decoded.
READ_BUFFER = 1 << 20


@dataclass
class VideoIndex:
    """What alignment needs of a 2023 file: everything but the predicted values.

    Attributes
    ----------
    mice
        ``(n_rows,)`` str ``mouse`` of each row.
    trial_ids
        ``(n_rows,)`` str ``trial_indices``.
    neuron_ids
        Per mouse, the unit ids of its first row.
    frames
        ``(n_rows,)`` int64 frames per neuron of each row (0: the row holds none).
    """

    mice: np.ndarray
    trial_ids: np.ndarray
    neuron_ids: dict[str, np.ndarray]
    frames: np.ndarray


def _parquet_input(data: bytes | os.PathLike[str] | BinaryIO) -> pa.NativeFile:
    import pyarrow as pa

    if isinstance(data, bytes):
        return pa.BufferReader(data)
    if isinstance(data, os.PathLike):
        return pa.OSFile(os.fspath(data))
    return pa.PythonFile(data, mode="r")


def _open_parquet(
    data: bytes | os.PathLike[str] | BinaryIO, name: str, limits: ReadLimits | None
) -> tuple[pq.ParquetFile, int]:
    """Open a parquet file for reading by batches; return it and the rows per batch."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(_parquet_input(data), buffer_size=READ_BUFFER, pre_buffer=False)
        columns = [c for c in VIDEO_COLUMNS if c in pf.schema_arrow.names]
        if limits is not None:
            _check_parquet_metadata(pf.metadata, columns, limits, name)
    except SubmissionError:
        raise
    except (pa.ArrowException, OSError, ValueError, TypeError, IndexError) as exc:
        raise SubmissionError(
            ProblemList.single(name, f"is not a readable parquet file ({quote(exc, 160)})")
        ) from exc
    per_row = max(1, _prediction_values(pf.metadata) // max(1, pf.metadata.num_rows))
    return pf, max(1, BATCH_VALUES // per_row)


def _prediction_values(meta: pq.FileMetaData) -> int:
    """Return the prediction values a file's metadata announces (all row groups)."""
    return sum(
        meta.row_group(g).column(c).num_values
        for g in range(meta.num_row_groups)
        for c in range(meta.num_columns)
        if meta.row_group(g).column(c).path_in_schema.startswith("prediction.")
    )


def decoded_bytes(data: bytes | str | os.PathLike[str] | BinaryIO) -> int | None:
    """Return the bytes a 2023 file's predictions decode to as float32, from its metadata.

    Nothing is decoded: the count comes from the file's footer (an upper bound: it counts
    the values of every row, a row with problems too).

    Parameters
    ----------
    data
        The file's bytes, its path, or a seekable binary file (read from its start).

    Returns
    -------
    int or None
        ``4 x`` the prediction values, or None when the file is empty or its metadata
        cannot be read (:func:`scan_video_parquet` then says why).
    """
    try:
        source, name = _source(data, None)
        pf, _ = _open_parquet(source, name, None)
    except SubmissionError:
        return None
    return 4 * _prediction_values(pf.metadata)


def _batches(pf: pq.ParquetFile, batch_rows: int, columns: list[str], name: str) -> Iterator[Any]:
    """Yield the file's record batches; a file that cannot be decoded is one problem."""
    import pyarrow as pa

    try:
        yield from pf.iter_batches(batch_size=batch_rows, columns=columns)
    except (pa.ArrowException, OSError, ValueError, TypeError, IndexError) as exc:
        raise SubmissionError(
            ProblemList.single(name, f"is not a readable parquet file ({quote(exc, 160)})")
        ) from exc


def _source(data: bytes | str | os.PathLike[str] | BinaryIO, name: str | None) -> tuple[Any, str]:
    """Return what :func:`_parquet_input` takes and the file's name; refuse empty files."""
    if isinstance(data, str | os.PathLike):
        path = Path(data)
        name = name or str(data)
        if path.is_symlink():
            raise SubmissionError(
                ProblemList.single(str(path), "is a link; links are not followed")
            )
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise SubmissionError(
                ProblemList.single(str(path), f"cannot be read ({exc.strerror or exc})")
            ) from exc
        data = path
    elif isinstance(data, bytes):
        size = len(data)
    else:
        size = data.seek(0, os.SEEK_END)
        data.seek(0)
    name = name or "submission"
    if not size:
        raise SubmissionError(ProblemList.single(name, "is empty"))
    return data, name


def scan_video_parquet(
    data: bytes | str | os.PathLike[str] | BinaryIO,
    name: str | None = None,
    limits: ReadLimits | None = None,
    problems: ProblemList | None = None,
    keep: list[np.ndarray] | None = None,
) -> VideoIndex:
    """Check one 2023 parquet submission file batch by batch, keeping only its index.

    The file is decoded in batches of about :data:`BATCH_VALUES` prediction values (pyarrow
    reads a row group's pages as it goes, so even a file written as one row group is
    decoded piece by piece): memory stays bounded whatever the file's size, and every
    problem is still listed, in the order and words of a whole-file read.

    Parameters
    ----------
    data
        The file's bytes, its path, or a seekable binary file.
    name
        How messages name the file.
    limits
        The most the file may decode to, checked on its metadata before decoding
        (:meth:`ReadLimits.for_tier`); None reads whatever the file holds.
    problems
        Where NaN or infinite predictions are recorded while the index is still returned,
        so that alignment problems are reported in the same answer; raised by default.
    keep
        When given, each row's ``(n_neurons, T - 50)`` float32 predictions are appended
        to it (empty for a row with problems): :func:`read_video_parquet`.

    Returns
    -------
    VideoIndex
        The rows' mice, trial ids, frames and each mouse's neuron ids.

    Raises
    ------
    SubmissionError
        As :func:`read_video_parquet`.
    """
    import pyarrow as pa

    source, name = _source(data, name)
    pf, batch_rows = _open_parquet(source, name, limits)
    schema = pf.schema_arrow
    missing = [c for c in VIDEO_COLUMNS if c not in schema.names]
    if missing:
        raise SubmissionError(
            ProblemList.single(
                name,
                f"misses column(s) {missing}; a 2023 submission has columns {list(VIDEO_COLUMNS)}",
            )
        )
    if pf.metadata.num_rows == 0:
        raise SubmissionError(ProblemList.single(name, "holds no rows"))
    pred_type = schema.field("prediction").type
    if not (pa.types.is_list(pred_type) or pa.types.is_large_list(pred_type)) or not (
        _is_float_list(pred_type.value_type)
    ):
        raise SubmissionError(
            ProblemList.single(
                name, f"column prediction has type {pred_type}, expected lists of lists of floats"
            )
        )
    rows = _RowChecker(name, problems)
    for batch in _batches(pf, batch_rows, list(VIDEO_COLUMNS), name):
        rows.check(batch, keep)
    return rows.finish()


class _RowChecker:
    """The per-row checks of a 2023 file, batch after batch, problems in whole-file order.

    A whole-file read lists the rows' shape problems (and, without an outside list, their
    NaN), then the neuron-id problems, then the neuron-count mismatches; NaN go to the
    outside list first. Each kind is kept apart here and merged in that order at the end.
    """

    def __init__(self, name: str, outside: ProblemList | None) -> None:
        self.name = name
        self.outside = outside
        self.rows = ProblemList()
        self.finite = ProblemList(outside.limit) if outside is not None else self.rows
        self.ids = ProblemList()
        self.counts = ProblemList()
        self.ids_ok = True
        self.beyond_int64 = False
        self.first_row: dict[str, int] = {}
        self.neuron_ids: dict[str, np.ndarray] = {}
        self.mice: list[np.ndarray] = []
        self.trial_ids: list[np.ndarray] = []
        self.frames: list[np.ndarray] = []
        self.offset = 0

    def check(self, batch: pa.RecordBatch, keep: list[np.ndarray] | None) -> None:
        """Check one batch of rows."""
        import pyarrow as pa

        name = self.name
        pred = batch.column("prediction")
        if pred.null_count or pred.flatten().null_count or pred.flatten().flatten().null_count:
            raise SubmissionError(
                ProblemList.single(name, "column prediction holds missing (null) entries")
            )
        outer = _offsets(pred)
        series = pred.flatten()
        inner = _offsets(series)
        with np.errstate(over="ignore"):
            flat = _as_numpy(series.flatten()).astype(np.float32, copy=False)
        n_neurons = np.diff(outer)
        series_len = np.diff(inner)
        mice = np.asarray([str(m) for m in batch.column("mouse").to_pylist()], dtype=str)
        trial_ids = np.asarray([str(t) for t in batch.column("trial_indices").to_pylist()], str)
        frames = np.zeros(batch.num_rows, np.int64)
        shapes: list[tuple[int, int]] = []
        for i in range(batch.num_rows):
            where = f"{name} row {self.offset + i}"
            lens = series_len[outer[i] : outer[i + 1]]
            shapes.append((0, 0))
            if n_neurons[i] == 0 or lens.max() == 0:
                what = "holds no neurons" if n_neurons[i] == 0 else "holds 0 frames per neuron"
                self.rows.add(where, f"prediction {what}")
            elif lens.min() != lens.max():
                self.rows.add(
                    where,
                    f"prediction series differ in length ({lens.min()}..{lens.max()} frames); "
                    "every neuron needs T - 50 values",
                )
            else:
                start, stop = inner[outer[i]], inner[outer[i + 1]]
                row = flat[start:stop].reshape(int(n_neurons[i]), int(lens[0]))
                _check_finite(row[None], lambda _r, w=where: w, self.finite)
                shapes[i] = row.shape
                frames[i] = row.shape[1]
                if keep is not None:
                    keep.append(row)
            if keep is not None and not shapes[i][0]:
                keep.append(np.zeros((0, 0), np.float32))
        col = batch.column("neuron_ids")
        if not (pa.types.is_list(col.type) or pa.types.is_large_list(col.type)) or not (
            pa.types.is_integer(col.type.value_type)
        ):
            if self.ids_ok:
                self.ids.add(
                    name, f"column neuron_ids has type {col.type}, expected lists of integers"
                )
            self.ids_ok = False
        elif not self.beyond_int64:
            self._check_ids(col, mice, shapes)
        self.mice.append(mice)
        self.trial_ids.append(trial_ids)
        self.frames.append(frames)
        self.offset += batch.num_rows

    def _check_ids(self, col: pa.Array, mice: np.ndarray, shapes: list[tuple[int, int]]) -> None:
        """Record rows whose neuron ids differ from their mouse's first row, or miscount."""
        off = _offsets(col)
        raw = _as_numpy(col.flatten())
        if raw.dtype.kind == "u" and raw.size and raw.max() > _INT64_MAX:
            self.beyond_int64 = True
            return
        flat = raw.astype(np.int64)
        for i, m in enumerate(mice.tolist()):
            r = self.offset + i
            ids = flat[off[i] : off[i + 1]]
            if m not in self.neuron_ids:
                self.neuron_ids[m], self.first_row[m] = ids.copy(), r
                if len(np.unique(ids)) != len(ids):
                    self.ids.add(f"{self.name} row {r}", "neuron_ids hold duplicates")
            elif not np.array_equal(ids, self.neuron_ids[m]):
                self.ids.add(
                    f"{self.name} row {r}",
                    f"neuron_ids differ from row {self.first_row[m]} of mouse {quote(m)}; every "
                    "row of a mouse must list the same neurons",
                )
            n_rows_neurons = shapes[i][0]
            first = self.neuron_ids[m]
            if n_rows_neurons and n_rows_neurons != len(first):
                self.counts.add(
                    f"{self.name} row {r}",
                    f"prediction holds {n_rows_neurons} neurons but neuron_ids list {len(first)}",
                )

    def finish(self) -> VideoIndex:
        """Raise every problem found, or return the file's index."""
        if self.beyond_int64:
            self.ids = ProblemList()
            self.ids.add(self.name, "column neuron_ids holds ids beyond the int64 range")
            self.counts = ProblemList()
        if not self.ids_ok or self.beyond_int64:
            self.neuron_ids = {}
        if self.outside is not None:
            _extend(self.outside, self.finite)
        problems = ProblemList()
        for kind in (self.rows, self.ids, self.counts):
            _extend(problems, kind)
        problems.raise_if_any()
        return VideoIndex(
            mice=np.concatenate(self.mice),
            trial_ids=np.concatenate(self.trial_ids),
            neuron_ids=self.neuron_ids,
            frames=np.concatenate(self.frames),
        )


def _extend(target: ProblemList, source: ProblemList) -> None:
    """Append ``source``'s problems (and the count it dropped) to ``target``."""
    for p in source.items:
        target.add(p.where, p.message)
    target.dropped += source.dropped


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
    values: list[np.ndarray] = []
    index = scan_video_parquet(data, name, limits, problems, keep=values)
    return VideoPredictions(
        mice=index.mice, trial_ids=index.trial_ids, neuron_ids=index.neuron_ids, values=values
    )


def iter_video_rows(
    data: bytes | os.PathLike[str] | BinaryIO, name: str, n_rows: int
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield each row's predictions of a file that :func:`scan_video_parquet` checked.

    Parameters
    ----------
    data
        The file's bytes, path or a seekable binary file.
    name
        How messages name the file.
    n_rows
        The rows the check found.

    Yields
    ------
    tuple
        The row's index and its ``(n_neurons, T - 50)`` float32 predictions.

    Raises
    ------
    NeurotwinError
        When the file no longer holds what was checked.
    """
    pf, batch_rows = _open_parquet(data, name, None)
    if pf.metadata.num_rows != n_rows:
        raise NeurotwinError(f"{name}: the file changed since it was checked")
    r = 0
    for batch in _batches(pf, batch_rows, ["prediction"], name):
        pred = batch.column("prediction")
        outer = _offsets(pred)
        series = pred.flatten()
        inner = _offsets(series)
        with np.errstate(over="ignore"):
            flat = _as_numpy(series.flatten()).astype(np.float32, copy=False)
        for i in range(batch.num_rows):
            n = int(outer[i + 1] - outer[i])
            start, stop = inner[outer[i]], inner[outer[i + 1]]
            yield r, flat[start:stop].reshape(n, (stop - start) // max(n, 1))
            r += 1


def _is_float_list(value_type: pa.DataType) -> bool:
    import pyarrow as pa

    return (pa.types.is_list(value_type) or pa.types.is_large_list(value_type)) and (
        pa.types.is_floating(value_type.value_type)
    )


def _offsets(array: pa.Array) -> np.ndarray:
    offsets = _as_numpy(array.offsets).astype(np.int64)
    return offsets - offsets[0]


def _as_numpy(array: pa.Array) -> np.ndarray:
    """Return a numeric Arrow array's values as numpy (a view of its buffer when it can).

    Reads the buffer directly: pyarrow's ``to_numpy`` imports pandas on its first call in a
    process (0.2 to 0.4 s of every ``neurotwin score``). Arrays with nulls, and types other
    than integers and floats, go through ``to_numpy`` (nulls become NaN).
    """
    import pyarrow as pa

    kind = (
        "f"
        if pa.types.is_floating(array.type)
        else "u"
        if pa.types.is_unsigned_integer(array.type)
        else "i"
        if pa.types.is_signed_integer(array.type)
        else None
    )
    if kind is None or array.null_count:
        return array.to_numpy(zero_copy_only=False)
    dtype = np.dtype(f"={kind}{array.type.bit_width // 8}")
    if len(array) == 0:
        return np.zeros(0, dtype)
    data = np.frombuffer(array.buffers()[1], dtype=dtype, count=array.offset + len(array))
    return data[array.offset :]
