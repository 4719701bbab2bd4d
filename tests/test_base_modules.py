"""Shared base modules: one atomic write, one Problem, one correlation."""

import os
import stat

import numpy as np
import pytest

from neurotwin import atomic
from neurotwin.atomic import atomic_path, publish, temp_name, write_bytes, write_text


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_atomic_writes_give_new_file_permissions_and_leave_no_temporary(tmp_path):
    path = write_text(tmp_path / "a" / "report.html", "<p>é</p>")
    assert path.read_text(encoding="utf-8") == "<p>é</p>"
    write_bytes(path, b"new")
    assert path.read_bytes() == b"new"
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode == 0o666 & ~atomic.current_umask()  # not mkstemp's 0o600
    assert _names(path.parent) == ["report.html"]


def test_an_interrupted_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    path = write_text(tmp_path / "x.csv", "old")
    with pytest.raises(KeyboardInterrupt), atomic_path(path) as tmp:
        tmp.write_text("half of the ne")
        raise KeyboardInterrupt
    assert path.read_text() == "old"
    assert _names(tmp_path) == ["x.csv"]


def test_publish_replaces_a_folder_or_file_whole(tmp_path):
    old = tmp_path / "rec"
    old.mkdir()
    (old / "stale.npy").write_bytes(b"1")
    new = temp_name(old)
    assert new.parent == tmp_path and new.name.startswith(".rec.tmp-")
    new.mkdir()
    (new / "fresh.npy").write_bytes(b"2")
    publish(new, old)
    assert _names(old) == ["fresh.npy"] and _names(tmp_path) == ["rec"]
    # a zip where a folder was, and a folder where a zip was
    zipped = tmp_path / ".rec.part"
    zipped.write_bytes(b"PK")
    publish(zipped, old)
    assert old.read_bytes() == b"PK"
    again = tmp_path / ".rec.again"
    again.mkdir()
    publish(again, old)
    assert old.is_dir() and _names(tmp_path) == ["rec"]


def test_problem_and_correlation_live_in_one_place():
    from neurotwin.data import Problem as DataProblem
    from neurotwin.data.problems import Problem as OldProblem
    from neurotwin.data.problems import RecordingError
    from neurotwin.problems import Problem, ProblemsError
    from neurotwin.scoring import correlation as scoring_correlation
    from neurotwin.scoring.errors import SubmissionError
    from neurotwin.scoring.metrics import correlation as metrics_correlation
    from neurotwin.stats import correlation

    assert DataProblem is OldProblem is Problem
    assert issubclass(RecordingError, ProblemsError) and issubclass(SubmissionError, ProblemsError)
    assert scoring_correlation is metrics_correlation is correlation
    x = np.arange(6.0).reshape(3, 2)
    np.testing.assert_allclose(correlation(x, x), [1.0, 1.0], atol=1e-7)
    assert str(RecordingError(Problem("a/b.npy", "is \x1b odd"))) == "a/b.npy: is \\x1b odd"
