"""A generated corpus of damaged recordings: every reader answers with a clear error.

Each case damages one file of a tiny valid recording (folder or zip) in one of the ways a
download, a disk or a hostile sender can: truncation, garbled bytes, another dtype or
shape, a pickle, an empty file, an ``.npz``, a huge declared shape, a damaged zip. Opening,
validating, summarising and reading every trial and statistic must then either work or raise
a :class:`~neurotwin.errors.NeurotwinError` with a one-line-per-problem message; any other
exception is a crash.
"""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from neurotwin.data import open_recording, validate_recording
from neurotwin.data.summary import summarize
from neurotwin.errors import NeurotwinError
from tiny import write_static, write_video

SEED = int(os.environ.get("NEUROTWIN_FUZZ_SEED", "20261129"))
#: Cases per kind of input; raise it (``NEUROTWIN_FUZZ_CASES=500``) for a longer search.
CASES_PER_KIND = int(os.environ.get("NEUROTWIN_FUZZ_CASES", "30"))


def _npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def _huge_header() -> bytes:
    buffer = io.BytesIO()
    header = {"descr": "<f4", "fortran_order": False, "shape": (2**40, 2**20)}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + b"\0" * 16


def _damage(content: bytes, rng: np.random.Generator) -> tuple[str, bytes]:
    """Return one damaged version of a file's content and the name of the damage."""
    kind = rng.choice(
        [
            "truncate",
            "garble",
            "garble_header",
            "empty",
            "dtype",
            "shape",
            "scalar",
            "pickle",
            "npz",
            "huge",
            "text",
        ]
    )
    if kind == "truncate":
        return kind, content[: int(rng.integers(0, max(1, len(content))))]
    if kind in ("garble", "garble_header"):
        data = bytearray(content)
        stop = min(len(data), 128) if kind == "garble_header" else len(data)
        for _ in range(int(rng.integers(1, 8))):
            if stop:
                data[int(rng.integers(0, stop))] = int(rng.integers(0, 256))
        return kind, bytes(data)
    if kind == "empty":
        return kind, b""
    if kind == "dtype":
        dtype = rng.choice(["<U5", "bool", "complex64", "int8", ">f8", "V3", "<M8[s]"])
        return f"dtype {dtype}", _npy(np.zeros(7, dtype=dtype))
    if kind == "shape":
        shape = tuple(int(v) for v in rng.integers(0, 5, size=int(rng.integers(1, 4))))
        return f"shape {shape}", _npy(np.ones(shape, np.float32))
    if kind == "scalar":
        return kind, _npy(np.array(3.0))
    if kind == "pickle":
        value = rng.choice(["strings", "mixed", "nested"])
        array = np.empty(7, dtype=object)
        array[:] = {"strings": ["x"] * 7, "mixed": [1, "a", 2.0, b"b", 3, 4, 5]}.get(
            str(value), [[1, 2]] * 7
        )
        return f"pickle {value}", _npy(array, allow_pickle=True)
    if kind == "npz":
        buffer = io.BytesIO()
        np.savez(buffer, a=np.ones(3))
        return kind, buffer.getvalue()
    if kind == "huge":
        return kind, _huge_header()
    return kind, b"not a numpy file at all\n\x1b[31m"


def _exercise(path: Path) -> str:
    """Use a recording every way the readers allow; return how it ended."""
    try:
        problems = validate_recording(path)
        recording = open_recording(path)
        summarize(recording)
        for field in recording.statistics_fields:
            recording.statistics(field)
        for index in range(recording.n_trials):
            recording.trial(index)
        if recording.kind == "video":
            _ = recording.lengths
    except NeurotwinError as exc:
        assert str(exc).strip(), "an empty error message"
        assert "Traceback" not in str(exc)
        return "clear error"
    if any(p.severity == "error" for p in problems):
        return "validate error, usable"
    return "works"


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.npy") if p.is_file())


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fuzz")
    return {
        "static": write_static(root / "s", n_neurons=5, hw=(4, 6), tiers=(6, 2, 2, 2)),
        "video": write_video(root / "v"),
    }


@pytest.mark.parametrize("kind", ["static", "video"])
def test_damaged_files_give_clear_errors(originals, tmp_path, kind):
    rng = np.random.default_rng(SEED + (kind == "video"))
    original = originals[kind]
    outcomes: Counter[str] = Counter()
    for case in range(CASES_PER_KIND):
        copy = tmp_path / f"case{case}" / original.name
        shutil.copytree(original, copy)
        files = _files(copy)
        target = files[int(rng.integers(len(files)))]
        damage, content = _damage(target.read_bytes(), rng)
        target.write_bytes(content)
        try:
            outcomes[_exercise(copy)] += 1
        except Exception as exc:
            rel = target.relative_to(copy)
            pytest.fail(f"{rel} ({damage}): {type(exc).__name__}: {exc}")
        shutil.rmtree(copy.parent)
    print(kind, dict(outcomes))  # the tally, shown with -s
    assert outcomes["clear error"] > CASES_PER_KIND // 2, outcomes


def test_damaged_zips_give_clear_errors(originals, tmp_path):
    rng = np.random.default_rng(SEED + 2)
    original = originals["static"]
    archive = tmp_path / "rec.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(original.rglob("*")):
            if file.is_file():
                zf.write(file, file.relative_to(original.parent).as_posix())
    clean = archive.read_bytes()
    outcomes: Counter[str] = Counter()
    for case in range(CASES_PER_KIND):
        data = bytearray(clean)
        if rng.random() < 0.2:
            data = data[: int(rng.integers(0, len(data)))]
        else:
            for _ in range(int(rng.integers(1, 6))):
                data[int(rng.integers(len(data)))] = int(rng.integers(0, 256))
        damaged = tmp_path / f"case{case}.zip"
        damaged.write_bytes(bytes(data))
        try:
            outcomes[_exercise(damaged)] += 1
        except Exception as exc:
            pytest.fail(f"zip case {case}: {type(exc).__name__}: {exc}")
        damaged.unlink()
    print("zip", dict(outcomes))
    assert sum(outcomes.values()) == CASES_PER_KIND
