"""The scoring seam: a light import, per-kind formats on each track, and two-step scoring."""

import subprocess
import sys

import numpy as np
import pytest

from neurotwin.errors import NeurotwinError
from neurotwin.scoring import (
    StaticPredictions,
    SubmissionError,
    check_submission,
    get_track,
    list_tracks,
    make_truth,
    score,
    score_aligned,
    write_submission,
)
from neurotwin.scoring.formats import StaticFormat, VideoFormat


def test_importing_the_scorer_pulls_in_neither_torch_nor_skimage_nor_pyarrow():
    code = (
        "import sys, neurotwin.scoring\n"
        "from neurotwin.scoring import score, check_submission, score_aligned, get_track\n"
        "import neurotwin.scoring.scorer, neurotwin.scoring.formats\n"
        "get_track('video-main').format\n"
        "print(sorted(m for m in ('torch', 'skimage', 'pyarrow') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_every_track_has_its_format_version_and_citation():
    for name in list_tracks():
        track = get_track(name)
        assert track.format.kind == track.kind
        assert track.version
        assert "arXiv:" in track.citation
    assert isinstance(get_track("sensorium").format, StaticFormat)
    assert isinstance(get_track("video-bonus").format, VideoFormat)
    assert "2206.08666" in get_track("sensorium+").citation
    assert "2305.19654" in get_track("video-main").citation


def _predictions(truth, noise, seed=0):
    rng = np.random.default_rng(seed)
    mouse = truth.mice[0]
    out = {}
    for phase, tier in (("live", "test"), ("final", "final_test")):
        t = mouse.tiers[tier]
        out[phase] = StaticPredictions(
            trial_ids=t.trial_ids,
            image_ids=t.stimulus_ids,
            neuron_ids=mouse.unit_ids,
            values=t.responses + noise * rng.normal(size=t.responses.shape).astype("f4"),
        )
    return out


def test_check_then_score_aligned_is_score(static_recording, tmp_path):
    truth = make_truth("sensorium", [static_recording])
    write_submission("sensorium", tmp_path / "sub", _predictions(truth, 0.5))
    aligned = check_submission("sensorium", tmp_path / "sub", truth)
    assert set(aligned.phases) == {"live", "final"}
    mouse = truth.mice[0]
    assert aligned.phases["live"][mouse.name].shape == mouse.tiers["test"].responses.shape
    two_step = score_aligned("sensorium", aligned, truth).to_dict(per_neuron=True)
    assert two_step == score("sensorium", truth, tmp_path / "sub").to_dict(per_neuron=True)


def test_check_submission_lists_every_problem_at_upload(static_recording, tmp_path):
    truth = make_truth("sensorium", [static_recording])
    preds = _predictions(truth, 0.5)
    for p in preds.values():
        p.values[0, 0] = np.nan
        p.values[1, 2] = np.inf
    with pytest.raises(SubmissionError) as err:
        check_submission("sensorium", preds, truth)
    assert len(err.value.problems) >= 4


def test_score_aligned_refuses_a_check_made_for_another_track(static_recording, tmp_path):
    truth = make_truth("sensorium", [static_recording])
    aligned = check_submission("sensorium", _predictions(truth, 0.5), truth)
    with pytest.raises(NeurotwinError, match="checked for track sensorium"):
        score_aligned("sensorium+", aligned, truth)
