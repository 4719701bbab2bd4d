"""The server's two-step scoring: check in the request, score the aligned predictions later."""

from __future__ import annotations

import shutil
import zipfile

import pytest

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
