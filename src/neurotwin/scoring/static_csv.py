"""The 2022 submission file: a CSV per phase, written and read.

Columns ``trial_indices``, ``image_ids``, ``prediction`` (a text list of one float per
neuron) and ``neuron_ids`` (a text list of unit ids, the same in every row).
"""

from __future__ import annotations

import io
import os
from collections import Counter
from pathlib import Path

import numpy as np

from neurotwin import atomic
from neurotwin.scoring.errors import ProblemList, SubmissionError, quote
from neurotwin.scoring.predictions import _INT64_MAX, _INT64_MIN, StaticPredictions, _check_finite
from neurotwin.scoring.upload import _read_file

STATIC_COLUMNS = ("trial_indices", "image_ids", "prediction", "neuron_ids")
_BOM = b"\xef\xbb\xbf"


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
    return atomic.write_bytes(path, static_csv_bytes(predictions))


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
    widths = [len(text.split(",")) if text.strip() else 0 for text in inner]
    # the width most rows share (ties: the earliest row's), so an odd row is the one blamed
    counts = Counter(widths)
    expected = max(counts, key=lambda w: (counts[w], -widths.index(w))) if widths else 0
    rows: list[np.ndarray] = []
    for r, text in enumerate(inner):
        cells = text.split(",") if text.strip() else []
        where = f"{name} line {r + 2}"
        if len(cells) != expected:
            problems.add(
                where,
                f"{what} has {len(cells)} values, expected {expected} like "
                f"{counts[expected]} of the {n_rows} rows",
            )
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


def _read_columns(data: bytes) -> dict[str, list[str]]:
    """Split CSV text (UTF-8, header first) into columns of strings, by header name.

    Standard CSV (RFC 4180): comma-separated, double quotes around fields holding commas,
    a doubled quote inside them; blank lines are skipped. The standard library's reader is
    used (no pyarrow), so checking a 2022 submission imports nothing heavy.

    Raises
    ------
    ValueError
        A row whose number of fields differs from the header's (quoting the row), a field
        left open by a quote, a repeated column name.
    """
    import csv

    text = data.decode("utf-8")
    # one field may hold a whole row of predictions: allow fields as long as the file
    limit = csv.field_size_limit(max(csv.field_size_limit(), len(text)))
    rows = (row for row in csv.reader(io.StringIO(text, newline=""), strict=True) if row)
    try:
        header = next(rows, [])
        if len(set(header)) != len(header):
            raise ValueError(f"the header repeats a column name: {header}")
        columns: list[list[str]] = [[] for _ in header]
        for row in rows:
            if len(row) != len(header):
                raise ValueError(f"expected {len(header)} columns, got {len(row)}: {','.join(row)}")
            for column, value in zip(columns, row, strict=True):
                column.append(value)
    except csv.Error as exc:
        raise ValueError(str(exc)) from exc
    finally:
        csv.field_size_limit(limit)  # the limit is the process's: leave it as it was
    return dict(zip(header, columns, strict=True))


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
        table = _read_columns(data)
    except ValueError as exc:
        raise SubmissionError(
            ProblemList.single(name, f"is not a readable CSV file ({quote(exc, 160)})")
        ) from exc
    missing = [c for c in STATIC_COLUMNS if c not in list(table)]
    if missing:
        found = [quote(c) for c in list(table)[:8]]
        parse.add(
            name,
            f"misses column(s) {missing}; a 2022 submission has columns {list(STATIC_COLUMNS)}"
            f" (found {', '.join(found)})",
        )
        parse.raise_if_any()
    n_rows = len(table[STATIC_COLUMNS[0]])
    if n_rows == 0:
        raise SubmissionError(ProblemList.single(name, "holds no rows"))
    ids_col = table["neuron_ids"]
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
    values = _parse_number_lists(table["prediction"], float, "prediction", name, parse)
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
        values32 = np.full((n_rows, len(neuron_ids)), np.nan, np.float32)
    else:
        assert values is not None
        with np.errstate(over="ignore"):
            values32 = values.astype(np.float32)
        _check_finite(values32, lambda r: f"{name} line {r + 2}", values_problems)
    if own is not None:
        own.raise_if_any()
    return StaticPredictions(
        trial_ids=np.asarray(table["trial_indices"], dtype=str),
        image_ids=np.asarray(table["image_ids"], dtype=str),
        neuron_ids=neuron_ids,
        values=values32,
    )
