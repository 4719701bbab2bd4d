"""The run folder: locked against a second run, files that follow the umask, a model after
Ctrl-C, a full disk that loses nothing, recordings given open or by path."""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
import subprocess
import sys

import pytest

from neurotwin.data import open_recording
from neurotwin.errors import NeurotwinError
from neurotwin.train import TrainConfig, train
from neurotwin.train import checkpoint as files
from train.standin import make_standin

FAST = TrainConfig(device="cpu", progress=False, batch_size=4, seed=1, max_epochs=2)


LOCK = ".lock"


def _lock_of(out, pid):
    out.mkdir(parents=True, exist_ok=True)
    record = {"pid": pid, "host": socket.gethostname(), "started": "2026-11-29T10:00:00+0000"}
    (out / LOCK).write_text(json.dumps(record))


def test_a_second_run_on_a_locked_folder_is_refused_naming_the_holder(tiny_loaders, tmp_path):
    out = tmp_path / "run"
    _lock_of(out, os.getpid())  # a live process holds it
    from neurotwin.train.lock import RunFolderBusy

    with pytest.raises(RunFolderBusy, match=rf"pid {os.getpid()} on host .*2026-11-29T10:00"):
        train(make_standin(tiny_loaders), tiny_loaders, FAST, out, log=None)
    assert not (out / files.METRICS).exists()


def test_a_stale_lock_is_taken_over_and_released(tiny_loaders, tmp_path):
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    _lock_of(out, int(done.stdout))  # its process has exited
    train(make_standin(tiny_loaders), tiny_loaders, FAST, out, log=None)
    lines = (out / files.METRICS).read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [0, 1, 2]
    assert not (out / LOCK).exists()


def test_the_lock_is_exclusive_within_one_process(tmp_path):
    from neurotwin.train.lock import RunFolderBusy, RunLock

    with RunLock(tmp_path / "run"), pytest.raises(RunFolderBusy):
        RunLock(tmp_path / "run").__enter__()
    with RunLock(tmp_path / "run"):  # released on exit
        pass


def test_run_files_follow_the_umask(tiny_loaders, tmp_path):
    old = os.umask(0o022)
    try:
        train(make_standin(tiny_loaders), tiny_loaders, FAST, tmp_path / "run", log=None)
    finally:
        os.umask(old)
    for name in (files.CONFIG, files.METRICS, files.CHECKPOINT, files.MODEL):
        mode = stat.S_IMODE((tmp_path / "run" / name).stat().st_mode)
        assert mode == 0o644, (name, oct(mode))


def test_ctrl_c_leaves_the_best_model_so_far(tiny_loaders, tmp_path):
    out = tmp_path / "run"
    lines = []

    def log(line):
        lines.append(line)
        if line.startswith("epoch   1"):
            raise KeyboardInterrupt

    config = FAST.replace(max_epochs=5)
    with pytest.raises(KeyboardInterrupt):
        train(make_standin(tiny_loaders), tiny_loaders, config, out, log=log)
    assert (out / files.MODEL).exists() and (out / files.CHECKPOINT).exists()
    assert "interrupted: the best weights so far" in lines[-1]
    assert not (out / LOCK).exists()
    result = train(make_standin(tiny_loaders), tiny_loaders, config, out, log=None)
    assert result.history[-1]["epoch"] == 5  # and the run resumes


def test_a_full_disk_while_checkpointing_loses_nothing(tiny_loaders, tmp_path, monkeypatch):
    out = tmp_path / "run"
    train(make_standin(tiny_loaders), tiny_loaders, FAST, out, log=None)
    before = (out / files.CHECKPOINT).read_bytes()
    real_save = files.torch.save

    def full(obj, path, *args, **kwargs):
        real_save(obj, path, *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(files.torch, "save", full)
    with pytest.raises(OSError, match="No space left"):
        train(make_standin(tiny_loaders), tiny_loaders, FAST.replace(max_epochs=4), out, log=None)
    assert (out / files.CHECKPOINT).read_bytes() == before
    assert sorted(p.name for p in out.iterdir() if p.name.endswith(".tmp")) == []


def test_fit_and_submission_take_an_open_recording(tmp_path, monkeypatch):
    from neurotwin.train.fitting import _paths
    from tiny import write_static

    path = write_static(tmp_path / "rec")
    recording = open_recording(path)
    assert _paths(recording) == [recording.location]
    assert _paths([recording, path]) == [recording.location, path]
    assert open_recording(recording) is recording
    with pytest.raises(TypeError, match="got int"):
        _paths([3])  # type: ignore[list-item]


def test_a_file_as_run_folder_is_refused(tiny_loaders, tmp_path):
    out = tmp_path / "run"
    out.write_text("x")
    with pytest.raises(NeurotwinError, match="is a file"):
        train(make_standin(tiny_loaders), tiny_loaders, FAST, out, log=None)


@pytest.fixture
def trained(tmp_path):
    import train.standin  # noqa: F401  (registers the stand-in)
    from neurotwin.train import fit
    from tiny import write_static

    path = write_static(tmp_path / "rec", hw=(16, 24))
    recording = open_recording(path)
    result = fit(recording, "standin", None, FAST.replace(max_epochs=1), log=None)
    return result.model, recording


def test_make_submission_and_evaluate_take_an_open_recording(trained, tmp_path):
    from neurotwin.submit import evaluate, make_submission

    model, recording = trained
    dest = make_submission(model, recording, "sensorium", tmp_path / "sub", device="cpu")
    assert (
        sorted(p.name for p in dest.iterdir())
        == [
            "predictions_final_test_main.csv",
            "predictions_live_test_main.csv",
        ]
        or len(list(dest.iterdir())) == 2
    )
    report = evaluate(model, recording, "sensorium", device="cpu")
    assert set(report.phases) == {"live", "final"}


def test_a_full_disk_while_submitting_writes_no_file_at_all(trained, tmp_path, monkeypatch):
    import neurotwin.scoring.static_csv as submission
    from neurotwin.submit import make_submission

    model, recording = trained
    real = submission.write_static_csv
    calls = []

    def second_fails(path, predictions):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, predictions)

    monkeypatch.setattr(submission, "write_static_csv", second_fails)
    with pytest.raises(OSError, match="No space left"):
        make_submission(model, recording, "sensorium", tmp_path / "sub", device="cpu")
    assert list((tmp_path / "sub").iterdir()) == []


def test_fit_and_fit_ensemble_refuse_each_others_folders(tmp_path):
    from neurotwin.train import fit, fit_ensemble

    (tmp_path / "ens").mkdir()
    (tmp_path / "ens/ensemble.json").write_text("{}")
    (tmp_path / "run").mkdir()
    (tmp_path / "run/checkpoint.pt").write_bytes(b"")
    with pytest.raises(NeurotwinError, match="holds an ensemble"):
        fit([tmp_path / "no-recording-needed"], "sensorium", tmp_path / "ens")
    with pytest.raises(NeurotwinError, match="holds a single run"):
        fit_ensemble([tmp_path / "no-recording-needed"], "sensorium", tmp_path / "run", 2)
