"""The 2023 submission file: a brotli-compressed parquet per phase, written and read.

Columns ``mouse``, ``trial_indices``, ``prediction`` (``n_neurons`` lists of ``T - 50``
floats) and ``neuron_ids``. pyarrow is imported only when a file is written or read.

Writing: brotli at quality :data:`BROTLI_LEVEL` (1) rather than Arrow's default (8), and the
prediction values plainly encoded without first trying a dictionary (float predictions
almost never repeat, so the attempt is wasted work that Arrow abandons after 1 MiB). Float
predictions barely compress at any quality (random ones of 2,000 neurons x 60 trials x 250
frames: 105.1 MB at quality 1 without the attempt, 106.1 MB with Arrow's defaults), so the
file is written several times faster for the same decoded table; its bytes differ from
those Arrow's defaults give (docs/benchmarks.md).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from neurotwin.scoring.errors import ProblemList, SubmissionError, quote
from neurotwin.scoring.predictions import _INT64_MAX, VideoPredictions, _check_finite
from neurotwin.scoring.truth import Truth
from neurotwin.scoring.upload import _read_file

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

VIDEO_COLUMNS = ("mouse", "trial_indices", "prediction", "neuron_ids")
#: Brotli quality of written files (see the module docstring).
BROTLI_LEVEL = 1
#: Columns tried with a dictionary encoding: the names, which repeat.
DICTIONARY_COLUMNS = ["mouse", "trial_indices"]


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
    pq.write_table(
        table,
        sink,
        compression="brotli",
        compression_level=BROTLI_LEVEL,
        use_dictionary=DICTIONARY_COLUMNS,
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
    import pyarrow as pa
    import pyarrow.parquet as pq

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
    import pyarrow as pa

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
    import pyarrow as pa

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
