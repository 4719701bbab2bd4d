"""A cache is verified before it is trusted: contents by checksum, statistics by their checks."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from neurotwin.cli import main
from neurotwin.data import RecordingError, cache_for, open_recording
from neurotwin.data import cache as cache_module
from tiny import write_static, write_video


def _overwrite_with_nan(file: Path, *, keep_mtime: bool) -> None:
    """Damage a cache file in place, keeping its size (as a user trial did)."""
    before = os.stat(file)
    array = np.load(file, mmap_mode="r+")
    array[:] = np.nan
    array.flush()
    del array
    if keep_mtime:  # damage a modification time does not show (bit rot, a careless copy)
        os.utime(file, ns=(before.st_atime_ns, before.st_mtime_ns))
    else:  # a write shows in the time even where the clock is coarse
        os.utime(file, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))


def _only_cache(root: Path) -> Path:
    (path,) = [p for p in root.iterdir() if not p.name.startswith(".")]
    return path


def test_neurotwin_cache_finds_damage_that_keeps_sizes_and_rebuilds(static_path, tmp_path, capsys):
    args = ["cache", str(static_path), "--cache-dir", str(tmp_path / "c"), "--no-progress"]
    assert main(args) == 0
    path = _only_cache(tmp_path / "c")
    _overwrite_with_nan(path / "responses.npy", keep_mtime=True)
    capsys.readouterr()
    assert main(args) == 0
    err = capsys.readouterr().err
    # one clean line: no Python file name, source line or warning class
    assert err.count("\n") == 1, err
    assert err.startswith("neurotwin cache: warning: ")
    assert "damaged (responses.npy changed since it was built); rebuilding it" in err
    assert "UserWarning" not in err and ".py:" not in err
    responses = np.load(path / "responses.npy")
    assert np.isfinite(responses).all()
    np.testing.assert_array_equal(responses[4], open_recording(static_path).load("responses", 4))


def test_a_sound_cache_verifies_quietly(static_path, tmp_path, capsys):
    args = ["cache", str(static_path), "--cache-dir", str(tmp_path / "c"), "--no-progress"]
    assert main(args) == 0
    stamp = os.stat(_only_cache(tmp_path / "c") / "images.npy").st_mtime_ns
    assert main(args) == 0
    assert capsys.readouterr().err == ""
    assert os.stat(_only_cache(tmp_path / "c") / "images.npy").st_mtime_ns == stamp


def test_a_video_cache_with_nan_padding_verifies(tmp_path):
    recording = open_recording(write_video(tmp_path / "rec"))
    cache = cache_for(recording, None, tmp_path / "c", progress=False)
    assert np.isnan(cache.array("videos")).any()  # padded tails are NaN, legitimately
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = cache_for(recording, None, tmp_path / "c", progress=False, verify=True)
    assert again.meta["built"] == cache.meta["built"]


def test_training_start_finds_a_written_file_cheaply(static_path, tmp_path, monkeypatch):
    recording = open_recording(static_path)
    cache = cache_for(recording, (8, 12), tmp_path / "c", progress=False)
    hashed = []
    real = cache_module.file_checksum

    def counting(path):
        hashed.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(cache_module, "file_checksum", counting)
    cache_for(recording, (8, 12), tmp_path / "c", progress=False)
    assert hashed == []  # unchanged files are not read
    _overwrite_with_nan(cache.path / "responses.npy", keep_mtime=False)
    with pytest.warns(UserWarning, match=r"responses\.npy changed since it was built"):
        rebuilt = cache_for(recording, (8, 12), tmp_path / "c", progress=False)
    assert hashed[0] == "responses.npy"
    assert np.isfinite(rebuilt.array("responses")).all()


def test_a_touched_but_unchanged_file_is_kept_and_its_time_recorded(static_path, tmp_path):
    recording = open_recording(static_path)
    cache = cache_for(recording, (8, 12), tmp_path / "c", progress=False)
    file = cache.path / "images.npy"
    os.utime(file, ns=(0, os.stat(file).st_mtime_ns + 10**9))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = cache_for(recording, (8, 12), tmp_path / "c", progress=False)
    assert again.meta["built"] == cache.meta["built"]
    meta = json.loads((cache.path / "meta.json").read_text())
    assert meta["files"]["images.npy"]["mtime_ns"] == os.stat(file).st_mtime_ns


def test_a_cache_without_checksums_is_used_but_rebuilt_when_verified(static_path, tmp_path):
    recording = open_recording(static_path)
    cache = cache_for(recording, (8, 12), tmp_path / "c", progress=False)
    meta = json.loads((cache.path / "meta.json").read_text())
    del meta["files"]  # as neurotwin wrote caches before checksums
    (cache.path / "meta.json").write_text(json.dumps(meta))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "files" not in cache_for(recording, (8, 12), tmp_path / "c", progress=False).meta
    with pytest.warns(UserWarning, match="records no checksums"):
        rebuilt = cache_for(recording, (8, 12), tmp_path / "c", progress=False, verify=True)
    assert set(rebuilt.meta["files"]) == {f"{f}.npy" for f in (*rebuilt.fields, "lengths")}


# ---------------------------------------------------------------------- statistics
@pytest.mark.parametrize(
    ("field", "std", "match"),
    [
        ("images", np.float32(0.0), "is zero"),
        ("responses", np.full(7, np.nan, np.float32), "NaN"),
        ("responses", np.ones(5, np.float32), r"has shape \(5,\)"),
    ],
)
def test_cache_refuses_bad_statistics_naming_the_file(tmp_path, capsys, field, std, match):
    path = write_static(tmp_path / "rec")
    np.save(path / f"meta/statistics/{field}/all/std.npy", std)
    with pytest.raises(RecordingError, match=rf"{field}/all/std\.npy: .*{match}"):
        cache_for(open_recording(path), None, tmp_path / "c", progress=False)
    assert main(["cache", str(path), "--cache-dir", str(tmp_path / "c"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{field}/all/std.npy" in err


def test_an_existing_cache_is_refused_once_its_statistics_go_bad(static_path, tmp_path):
    recording = open_recording(static_path)
    cache_for(recording, (8, 12), tmp_path / "c", progress=False)
    np.save(static_path / "meta/statistics/images/all/std.npy", np.float32(0.0))
    with pytest.raises(RecordingError, match=r"images/all/std\.npy: is zero"):
        cache_for(open_recording(static_path), (8, 12), tmp_path / "c", progress=False)


def test_the_rebuild_notice_is_one_clean_line(static_path, tmp_path, capsys):
    args = ["cache", str(static_path), "--cache-dir", str(tmp_path / "c"), "--no-progress"]
    assert main(args) == 0
    images = _only_cache(tmp_path / "c") / "images.npy"
    images.write_bytes(images.read_bytes()[:-100])  # found before checksums, by its size
    capsys.readouterr()
    assert main(args) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("neurotwin cache: warning: ")
    assert "the cache is damaged (images.npy holds" in err and "rebuilding it" in err
    assert "UserWarning" not in err and "warnings.warn" not in err
