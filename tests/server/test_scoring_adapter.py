"""The server's two-step scoring: check in the request, score the aligned predictions later."""

from __future__ import annotations

import os
import shutil
import zipfile

import pytest

from neurotwin.errors import NeurotwinError
from neurotwin.scoring.errors import SubmissionError
from neurotwin.scoring.tracks import get_track
from neurotwin.server import scoring_adapter
from server_helpers import STATIC


def test_check_then_score_with_one_truth_file_per_phase(truths, examples, tmp_path):
    live_name = get_track(STATIC).submission_files["live"]
    with zipfile.ZipFile(examples[f"{STATIC}-good"]) as zf:
        (tmp_path / live_name).write_bytes(zf.read(live_name))
    final_truth = shutil.copyfile(truths[STATIC], tmp_path / "final.npz")
    per_phase = {"live": truths[STATIC], "final": final_truth}
    # a file of the live phase alone: nothing for the final truth is no problem
    checked = scoring_adapter.check(STATIC, tmp_path / live_name, per_phase)
    assert {p for a in checked.values() for p in a.phases} == {"live"}
    results = scoring_adapter.score(STATIC, tmp_path / live_name, per_phase)
    assert set(results) == {"live"}
    (live,) = results.values()
    assert live.track_version == get_track(STATIC).version
    assert live.scorer == scoring_adapter.SCORER and 0 < live.value < live.ceiling
    # both phases from the zip, each scored against its own file
    both = scoring_adapter.score(STATIC, examples[f"{STATIC}-good"], per_phase)
    assert set(both) == {"live", "final"} and both["live"].value == live.value
    # a bad file lists its problems at once
    bad = tmp_path / "bad" / live_name
    bad.parent.mkdir()
    bad.write_text("trial_indices,image_ids,prediction,neuron_ids\n1,2,3\n")
    with pytest.raises(SubmissionError, match=live_name):
        scoring_adapter.check(STATIC, bad, per_phase)


def test_large_uploads_are_checked_in_a_child_process(truths, examples, tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from neurotwin.server.app import create_app
    from neurotwin.server.config import load_competition
    from server_helpers import register, upload, write_competition

    made = write_competition(
        tmp_path / "child", {STATIC: truths[STATIC]}, f"sqlite:///{tmp_path / 'db.sqlite'}"
    )
    config = made.folder / "competition.json"
    config.write_text(config.read_text()[:-1] + ', "check_in_process_mb": 0}')
    competition = load_competition(made.folder)
    assert competition.settings.check_in_process_mb == 0
    app = create_app(competition)
    with TestClient(app) as client:
        team = register(client, "c@lab.org", "children")

        def not_here(*args):
            raise AssertionError("checked inside the web process")

        # the spawned child imports its own, real check; the web process must not check
        monkeypatch.setattr(scoring_adapter, "check", not_here)
        r = upload(client, team, STATIC, examples[f"{STATIC}-good"])
        assert r.status_code == 201, r.text
    app.state.engine.dispose()


def test_a_check_process_that_dies_is_a_clear_refusal(monkeypatch, truths, examples):
    import multiprocessing

    def die(*args):
        os._exit(137)  # as the kernel's out-of-memory killer would end it

    # forked (not spawned) so that the child sees the stand-in; pickled by this name
    die.__module__, die.__qualname__ = scoring_adapter.__name__, "_check_in_child"
    monkeypatch.setattr(scoring_adapter, "_check_in_child", die)
    fork = multiprocessing.get_context("fork")
    monkeypatch.setattr(scoring_adapter.multiprocessing, "get_context", lambda _: fork)
    with pytest.raises(NeurotwinError, match="the process checking it died"):
        scoring_adapter.check_isolated(STATIC, examples[f"{STATIC}-good"], truths[STATIC])
