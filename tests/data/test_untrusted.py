"""Recordings from strangers: no code runs, no memory bomb, no link out, no traceback."""

from __future__ import annotations

import io
import os
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from neurotwin.data import RecordingError, cache_for, open_recording, validate_recording
from neurotwin.data.normalize import Normalizer
from tiny import write_static


def _errors(path):
    return [p for p in validate_recording(path) if p.severity == "error"]


class _Payload:
    """A pickle that creates a file when loaded (stands for any code it could run)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _object_npy(obj: object, shape: tuple[int, ...]) -> bytes:
    """An .npy file whose payload is a pickle, as numpy writes object arrays."""
    buffer = io.BytesIO()
    header = {"descr": "|O", "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    pickle.dump(obj, buffer, protocol=3)
    return buffer.getvalue()


def test_a_malicious_pickle_in_meta_is_refused_never_run(tmp_path):
    path = write_static(tmp_path / "rec")
    marker = tmp_path / "pwned"
    target = path / "meta/neurons/area.npy"
    target.write_bytes(_object_npy(_Payload(marker), (7,)))
    with pytest.raises(RecordingError, match=r"meta/neurons/area\.npy: .*refused"):
        open_recording(path)
    errors = _errors(path)
    assert any(p.where.endswith("meta/neurons/area.npy") for p in errors)
    assert not marker.exists()


def test_a_pickled_array_holding_an_object_is_refused(tmp_path):
    path = write_static(tmp_path / "rec")
    target = path / "meta/neurons/area.npy"
    array = np.empty(7, dtype=object)
    array[:] = [{"a": 1}] * 7
    with open(target, "wb") as handle:
        np.save(handle, array, allow_pickle=True)
    with pytest.raises(RecordingError, match=r"area\.npy: .*(dict|refused)"):
        open_recording(path)


def test_the_releases_object_string_arrays_still_load(tmp_path):
    path = write_static(tmp_path / "rec")
    np.save(path / "meta/neurons/area.npy", np.array(["V1"] * 7, dtype=object), allow_pickle=True)
    np.save(
        path / "meta/trials/tiers.npy",
        open_recording(path).tiers.astype(object),
        allow_pickle=True,
    )
    recording = open_recording(path)
    assert recording.neurons["area"].tolist() == ["V1"] * 7
    assert recording.tiers.dtype.kind == "U"


def test_an_object_array_outside_meta_is_refused(tmp_path):
    path = write_static(tmp_path / "rec")
    np.save(path / "data/responses/0.npy", np.array([1.0] * 7, dtype=object), allow_pickle=True)
    (problem,) = _errors(path)
    assert problem.where.endswith("data/responses/0.npy")
    assert "Python objects" in problem.message


def _zip_with(path: Path, dest: Path, replace: dict[str, bytes]) -> Path:
    """Zip a recording folder, replacing some members' content."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(path.rglob("*")):
            if file.is_file():
                rel = file.relative_to(path.parent).as_posix()
                key = file.relative_to(path).as_posix()
                zf.writestr(rel, replace.get(key, file.read_bytes()))
    return dest


def test_an_oversized_zip_member_is_refused_before_it_is_decompressed(tmp_path):
    path = write_static(tmp_path / "rec")
    bomb = io.BytesIO()
    np.save(bomb, np.zeros((4_000_000,), np.float32))  # 16 MB of zeros, ~16 kB compressed
    archive = _zip_with(path, tmp_path / "bomb.zip", {"data/responses/3.npy": bomb.getvalue()})
    assert archive.stat().st_size < 200_000
    errors = _errors(archive)
    assert [p.where.rsplit("!", 1)[1].split("/", 1)[1] for p in errors] == ["data/responses/3.npy"]
    assert "refused before reading" in errors[0].message


def test_a_header_declaring_a_huge_shape_is_refused_without_allocating(tmp_path):
    path = write_static(tmp_path / "rec")
    buffer = io.BytesIO()
    header = {"descr": "<f8", "fortran_order": False, "shape": (10**7, 10**7)}
    np.lib.format.write_array_header_1_0(buffer, header)
    target = path / "meta/statistics/responses/all/std.npy"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(buffer.getvalue() + b"\0" * 64)
    (problem,) = _errors(path)
    assert problem.where.endswith("std.npy")
    assert "truncated or padded" in problem.message


def _corrupt_member(archive: Path, member: str) -> None:
    """Flip a byte in the middle of one member's compressed data."""
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo(member)
    data = bytearray(archive.read_bytes())
    name_len = int.from_bytes(data[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_len = int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    data[start + info.compress_size // 2] ^= 0xFF
    archive.write_bytes(bytes(data))


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_corrupt_zip_member_is_one_clear_problem(tmp_path, method):
    path = write_static(tmp_path / "rec")
    archive = tmp_path / "rec.zip"
    with zipfile.ZipFile(archive, "w", method) as zf:
        for file in sorted(path.rglob("*")):
            if file.is_file():
                zf.write(file, file.relative_to(path.parent).as_posix())
    member = f"{path.name}/data/images/5.npy"
    _corrupt_member(archive, member)
    errors = _errors(archive)
    assert [p.where.endswith("data/images/5.npy") for p in errors] == [True]
    assert "\n" not in errors[0].message
    with pytest.raises(RecordingError, match=r"images/5\.npy"):
        open_recording(archive).load("images", 5)


def test_a_link_out_of_the_recording_is_never_followed(tmp_path):
    path = write_static(tmp_path / "rec")
    secret = tmp_path / "secret.npy"
    np.save(secret, np.arange(7, dtype=np.float32))
    target = path / "data/responses/2.npy"
    target.unlink()
    target.symlink_to(secret)
    (problem,) = _errors(path)
    assert problem.where.endswith("data/responses/2.npy")
    assert "outside the recording" in problem.message


def test_links_inside_the_recording_are_followed(tmp_path):
    path = write_static(tmp_path / "rec")
    target = path / "data/responses/2.npy"
    target.unlink()
    target.symlink_to(path / "data/responses/1.npy")
    assert _errors(path) == []


def test_broken_links_and_link_loops_are_one_line_problems(tmp_path):
    path = write_static(tmp_path / "rec")
    broken = path / "data/images/4.npy"
    broken.unlink()
    broken.symlink_to(path / "data/images/nowhere.npy")
    loop = path / "data/behavior/1.npy"
    loop.unlink()
    loop.symlink_to(loop)
    messages = {Path(p.where).name: p.message for p in _errors(path)}
    assert messages == {"4.npy": "is a broken symbolic link", "1.npy": "is a symbolic link loop"}
    with pytest.raises(RecordingError, match="broken symbolic link"):
        open_recording(path).load("images", 4)


def test_a_linked_folder_out_of_the_recording_is_refused(tmp_path):
    path = write_static(tmp_path / "rec")
    outside = tmp_path / "elsewhere"
    shutil.copytree(path / "meta/trials", outside)
    shutil.rmtree(path / "meta/trials")
    (path / "meta/trials").symlink_to(outside, target_is_directory=True)
    errors = _errors(path)
    assert errors and all("meta/trials" in p.where for p in errors)


# ---------------------------------------------------------------------- statistics
def _set_stat(path: Path, field: str, name: str, value: np.ndarray) -> Path:
    target = path / f"meta/statistics/{field}/all/{name}.npy"
    np.save(target, value)
    return target


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("responses", np.zeros(7), "zero for every neuron"),
        ("responses", np.array([1.0, np.nan, 1, 1, 1, 1, 1]), "NaN"),
        ("responses", np.ones(5), r"has shape \(5,\), expected \(7,\)"),
        ("images", np.float64(0.0), "is zero"),
        ("images", np.float64(np.inf), "infinite"),
        ("behavior", -np.ones(3), "negative"),
    ],
)
def test_bad_statistics_are_refused_wherever_they_are_used(
    tmp_path, field, value, message, monkeypatch
):
    path = write_static(tmp_path / "rec")
    target = _set_stat(path, field, "std", value)
    # validate names the file
    errors = _errors(path)
    assert [p.where for p in errors] == [str(target)]
    assert any(__import__("re").search(message, p.message) for p in errors)
    recording = open_recording(path)
    # the loaders' normalisation, the cache's users, the scorer's truth: one clear error
    with pytest.raises(RecordingError, match=message):
        Normalizer.from_recording(recording, (field,))
    if field == "responses":
        from neurotwin.scoring.truth import make_truth

        with pytest.raises(RecordingError, match=message):
            make_truth("sensorium+", [path])


def test_a_constant_behaviour_channel_is_left_unscaled(tmp_path):
    path = write_static(tmp_path / "rec")
    _set_stat(path, "behavior", "std", np.array([1.0, 0.0, 2.0]))
    normalizer = Normalizer.from_recording(open_recording(path), ("behavior",))
    out = normalizer("behavior", np.ones((2, 3), np.float32))
    assert np.isfinite(out).all()


# ---------------------------------------------------------------------- every stage
def test_validate_reports_a_missing_file_and_a_truncated_one_together(tmp_path):
    path = write_static(tmp_path / "rec")
    (path / "data/responses/3.npy").unlink()
    image = path / "data/images/9.npy"
    image.write_bytes(image.read_bytes()[:150])
    where = {Path(p.where).parent.name + "/" + Path(p.where).name for p in _errors(path)}
    assert "images/9.npy" in where
    assert any(w.startswith("data/responses") or w == "responses/3.npy" for w in where)


def test_validate_stops_at_its_problem_limit_with_a_note(tmp_path):
    path = write_static(tmp_path / "rec")
    for i in range(1, 11):
        (path / f"data/images/{i}.npy").write_bytes(b"garbage")
    problems = validate_recording(path, max_problems=3)
    assert sum(p.severity == "error" for p in problems) == 3
    assert "stopped after 3 problems" in problems[-1].message


# ---------------------------------------------------------------------- cache
def test_a_damaged_cache_is_found_and_rebuilt(tmp_path):
    path = write_static(tmp_path / "rec")
    recording = open_recording(path)
    cache = cache_for(recording, (8, 12), tmp_path / "cache", progress=False)
    images = cache.path / "images.npy"
    images.write_bytes(images.read_bytes()[:-100])
    with pytest.warns(UserWarning, match="damaged"):
        rebuilt = cache_for(recording, (8, 12), tmp_path / "cache", progress=False)
    assert np.asarray(rebuilt.array("images")).shape == (28, 1, 8, 12)


def test_a_cache_damaged_after_opening_names_the_fix(tmp_path):
    from neurotwin.data.cache import CacheError

    path = write_static(tmp_path / "rec")
    cache = cache_for(open_recording(path), (8, 12), tmp_path / "cache", progress=False)
    (cache.path / "responses.npy").write_bytes(b"nonsense")
    with pytest.raises(CacheError, match="neurotwin cache"):
        cache.array("responses")


def test_interrupted_cache_builds_are_cleaned_up(tmp_path):
    import socket
    import subprocess
    import sys

    from neurotwin.data.cache import remove_leftovers

    root = tmp_path / "cache"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    host = socket.gethostname().replace("-", "_")
    left = root / f".rec-8x12-abc.tmp-{host}-{int(dead.stdout)}-123"
    alive = root / f".rec-8x12-abc.tmp-{host}-{os.getpid()}-456"
    for folder in (left, alive):
        folder.mkdir(parents=True)
        (folder / "images.npy").write_bytes(b"x")
    path = write_static(tmp_path / "rec")
    cache_for(open_recording(path), (8, 12), root, progress=False)
    assert not left.exists()
    assert alive.exists()
    assert remove_leftovers(root) == []


# ---------------------------------------------------------------------- quoting
def test_untrusted_text_is_quoted_safely_and_briefly():
    from neurotwin.errors import quote_untrusted

    assert quote_untrusted("\x1b[31mred\x1b[0m") == "'\\x1b[31mred\\x1b[0m'"
    assert quote_untrusted("a\u202eb") == "'a\\u202eb'"
    assert quote_untrusted("x" * 500, 10) == "'" + "x" * 10 + "...'"
    assert "\n" not in quote_untrusted("line1\nline2")
    assert quote_untrusted(b"\xff\x00") == "b'\\xff\\x00'"


def test_an_unknown_tier_with_escape_codes_is_quoted(tmp_path):
    path = write_static(tmp_path / "rec")
    tiers = open_recording(path).tiers.astype("<U40")
    tiers[0] = "\x1b]0;owned\x07train"
    np.save(path / "meta/trials/tiers.npy", tiers)
    (problem,) = _errors(path)
    assert "\x1b" not in problem.message and "\\x1b" in problem.message


def test_garbled_unicode_in_a_meta_file_is_one_clear_problem(tmp_path):
    path = write_static(tmp_path / "rec")
    tiers = open_recording(path).tiers
    raw = bytearray(tiers.tobytes())
    raw[0:4] = (0x110000).to_bytes(4, "little")  # beyond the last code point
    buffer = io.BytesIO()
    header = {"descr": tiers.dtype.str, "fortran_order": False, "shape": tiers.shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    (path / "meta/trials/tiers.npy").write_bytes(buffer.getvalue() + bytes(raw))
    (problem,) = _errors(path)
    assert problem.where.endswith("tiers.npy") and "not valid unicode" in problem.message


def test_a_top_level_folder_linked_out_of_the_recording_is_refused(tmp_path):
    path = write_static(tmp_path / "rec")
    shutil.move(path / "meta", tmp_path / "meta-elsewhere")
    (path / "meta").symlink_to(tmp_path / "meta-elsewhere", target_is_directory=True)
    errors = _errors(path)
    assert [p.message for p in errors if p.where.endswith("meta")] == [
        "is a symbolic link to outside the recording; refused"
    ]


def test_file_names_with_escape_codes_are_printed_escaped(tmp_path, capsys):
    from neurotwin.cli import main

    path = write_static(tmp_path / "rec")
    (path / "data/images/\x1b[2J\x1b]0;title\x07.npy").write_bytes(b"x")
    assert main(["validate", "--no-progress", str(path)]) == 0
    out = capsys.readouterr().out
    assert "unexpected file" in out and "\x1b" not in out and "\\x1b[2J" in out


def test_a_zip_member_present_twice_is_refused(tmp_path):
    path = write_static(tmp_path / "rec")
    archive = _zip_with(path, tmp_path / "twice.zip", {})
    with zipfile.ZipFile(archive, "a") as zf, pytest.warns(UserWarning, match="Duplicate"):
        zf.writestr(f"{path.name}/data/responses/4.npy", b"second copy")
    errors = _errors(archive)
    assert [p.message for p in errors] == ["appears twice in the zip; refused"]
    assert errors[0].where.endswith("data/responses/4.npy")


def test_npy_headers_are_parsed_under_the_lock(tmp_path, monkeypatch):
    # CPython 3.11.7's ast keeps its recursion depth in a global: numpy's header parsing
    # (ast.literal_eval) from the cache's reader threads at once raised "AST constructor
    # recursion depth mismatch" under load; every parse must hold the module's lock.
    import ast

    from neurotwin.data import npy

    real = ast.literal_eval
    held = []

    def checked(node_or_string):
        held.append(npy._HEADER_LOCK.locked())
        return real(node_or_string)

    monkeypatch.setattr(ast, "literal_eval", checked)
    path = tmp_path / "a.npy"
    np.save(path, np.arange(6, dtype=np.float32).reshape(2, 3))
    size = path.stat().st_size
    for mapped in (None, str(path)):
        with open(path, "rb") as handle:
            arr = npy.read_npy(handle, size, "a.npy", max_bytes=size, path=mapped)
        assert np.array_equal(np.asarray(arr), np.arange(6).reshape(2, 3))
    assert held and all(held)
