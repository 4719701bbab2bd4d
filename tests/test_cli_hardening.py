"""Command-line manners: exit codes, closed pipes, full disks, bad arguments, fast start."""

from __future__ import annotations

import errno
import subprocess
import sys

import numpy as np
import pytest

from neurotwin.cli import main
from tiny import write_static


def _full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", "/somewhere/file.npy")


class _ClosedPipe:
    """A stdout whose reader went away (``neurotwin info ... | head``)."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    def fileno(self) -> int:
        raise ValueError("no descriptor")


@pytest.mark.parametrize("command", [["info"], ["validate"], ["tracks"]])
def test_a_closed_pipe_ends_quietly(static_path, monkeypatch, capsys, command):
    args = command + ([] if command == ["tracks"] else [str(static_path)])
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main(args) == 141
    assert "Traceback" not in capsys.readouterr().err


def test_a_closed_pipe_in_a_real_process_prints_no_traceback(static_path):
    script = (
        "import sys; from neurotwin.cli import main; "
        f"sys.exit(main(['validate', '--max', '100000', {str(static_path)!r}]))"
    )
    # validate prints little: close the reading end at once so the first write fails
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert b"Traceback" not in err and b"BrokenPipeError" not in err
    assert proc.returncode in (0, 141)


def test_exit_codes_tell_problems_bad_input_and_bugs_apart(tmp_path, monkeypatch, capsys):
    path = write_static(tmp_path / "rec")
    np.save(path / "data/responses/3.npy", np.ones(2, dtype=np.float32))
    assert main(["validate", str(path)]) == 1
    assert main(["info", str(tmp_path / "missing")]) == 2
    import neurotwin.data.summary

    def bug(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(neurotwin.data.summary, "summarize", bug)
    assert main(["info", str(write_static(tmp_path / "ok"))]) == 3
    assert "internal error" in capsys.readouterr().err


@pytest.mark.parametrize("scale", ["0", "-1", "nan", "10"])
def test_cache_refuses_a_scale_outside_0_1(static_path, scale, capsys):
    assert main(["cache", str(static_path), "--scale", scale]) == 2
    err = capsys.readouterr().err
    assert "--scale must be in (0, 1]" in err and len(err.strip().splitlines()) == 1


def test_cache_refuses_a_cache_larger_than_the_free_space(static_path, monkeypatch, capsys):
    import shutil

    from neurotwin.cli import data as cli_data

    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(1, 1, 100))
    assert cli_data.shutil is shutil
    assert main(["cache", str(static_path), "--scale", "1"]) == 2
    assert "needs 0.00 GB but" in capsys.readouterr().err


def test_a_full_disk_while_caching_is_one_line_and_leaves_nothing(static_path, tmp_path,
                                                                  monkeypatch, capsys):  # fmt: skip
    import neurotwin.data.cache

    real_resize = neurotwin.data.cache.resize_images
    calls = []

    def resize_then_fail(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            _full_disk()
        return real_resize(*args, **kwargs)

    monkeypatch.setattr(neurotwin.data.cache, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(neurotwin.data.cache, "resize_images", resize_then_fail)
    cache_dir = tmp_path / "c"
    assert main(["cache", str(static_path), "--cache-dir", str(cache_dir), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("neurotwin cache: error: '/somewhere/file.npy': No space left")
    assert len(err.splitlines()) == 1
    assert list(cache_dir.iterdir()) == []


def test_a_full_disk_while_simulating_is_one_line(tmp_path, monkeypatch, capsys):
    import neurotwin.data.writer

    monkeypatch.setattr(neurotwin.data.writer.RecordingWriter, "write_trials", _full_disk)
    args = ["simulate", "static", "--out", str(tmp_path / "sim"), "--no-checks"]
    assert main(args) == 2
    assert "No space left on device" in capsys.readouterr().err
    leftovers = [p for p in (tmp_path / "sim").rglob("*") if p.is_dir() and "tmp" in p.name]
    assert leftovers == []


def test_a_full_disk_while_cutting_a_truth_file_is_one_line(static_path, tmp_path,
                                                           monkeypatch, capsys):  # fmt: skip
    monkeypatch.setattr(np, "savez", _full_disk)
    out = tmp_path / "truth.npz"
    assert main(["make-truth", "--track", "sensorium+", "--recording", str(static_path),
                 "--out", str(out)]) == 2  # fmt: skip
    assert "No space left on device" in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.glob("*.tmp*")) == []


def test_commands_that_need_no_torch_do_not_import_it():
    script = (
        "import sys; from neurotwin.cli import main; main(['tracks']); "
        "heavy = [m for m in ('torch', 'skimage', 'pyarrow', 'pandas', 'scipy') "
        "if m in sys.modules]; print('HEAVY', heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert "HEAVY []" in out


def test_info_and_validate_do_not_import_torch(static_path):
    script = (
        "import sys; from neurotwin.cli import main; "
        f"main(['info', {str(static_path)!r}]); main(['validate', {str(static_path)!r}]); "
        "print('TORCH', 'torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert "TORCH False" in out


def test_train_refuses_an_out_that_is_a_file(static_path, tmp_path, capsys):
    out = tmp_path / "run.txt"
    out.write_text("not a folder")
    assert main(["train", str(static_path), "--out", str(out)]) == 2
    assert "is a file; the run folder must be a folder" in capsys.readouterr().err
    assert out.read_text() == "not a folder"


def test_max_epochs_flag_and_its_epochs_alias():
    from neurotwin.cli import build_parser

    parser = build_parser()
    for flag in ("--max-epochs", "--epochs"):
        args = parser.parse_args(["train", "rec", "--out", "run", flag, "7"])
        assert args.max_epochs == 7


@pytest.mark.parametrize(
    "package", ["neurotwin.data", "neurotwin.scoring", "neurotwin.simulate", "neurotwin.train"]
)
def test_lazy_exports_stay_the_objects_once_every_submodule_is_imported(package):
    import importlib
    import pkgutil
    import types

    pkg = importlib.import_module(package)
    for info in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{package}.{info.name}")
    for name in pkg.__all__:
        value = getattr(pkg, name)
        assert not isinstance(value, types.ModuleType), name  # a submodule shadowing a name
