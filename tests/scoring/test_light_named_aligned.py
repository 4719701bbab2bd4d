"""The scorer runs without heavy imports; metrics and ceilings are named; checks are saved."""

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from neurotwin.scoring import (
    AlignedSubmission,
    StaticPredictions,
    check_submission,
    get_measure,
    get_track,
    list_measures,
    list_tracks,
    make_truth,
    save_truth,
    score,
    score_aligned,
    write_submission,
)
from neurotwin.scoring.aligned import AlignedFileError

HEAVY = ("torch", "skimage", "pyarrow", "matplotlib")


def _predictions(truth, noise=0.5, seed=0):
    rng = np.random.default_rng(seed)
    mouse = truth.mice[0]
    out = {}
    for phase, tier in (("live", "test"), ("final", "final_test")):
        t = mouse.tiers[tier]
        noisy = t.responses + noise * rng.normal(size=t.responses.shape).astype("f4")
        out[phase] = StaticPredictions(t.trial_ids, t.stimulus_ids, mouse.unit_ids, noisy)
    return out


def _run(code: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_checking_and_scoring_a_static_csv_imports_nothing_heavy(static_recording, tmp_path):
    truth = make_truth("sensorium", [static_recording])
    truth_file = save_truth(truth, tmp_path / "truth.npz")
    write_submission("sensorium", tmp_path / "sub", _predictions(truth))
    expected = score("sensorium", truth, tmp_path / "sub").to_dict()
    code = (
        "import json, sys\n"
        "import neurotwin.scoring\n"
        "from neurotwin.scoring import score, check_submission, score_aligned\n"
        f"aligned = check_submission('sensorium', {str(tmp_path / 'sub')!r}, "
        f"{str(truth_file)!r})\n"
        f"report = score_aligned('sensorium', aligned, {str(truth_file)!r})\n"
        f"again = score('sensorium', {str(truth_file)!r}, {str(tmp_path / 'sub')!r})\n"
        "assert again.to_dict() == report.to_dict()\n"
        f"heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
        "print(json.dumps({'heavy': heavy, 'report': report.to_dict()}))\n"
    )
    result = _run(code)
    assert result["heavy"] == []
    assert result["report"] == json.loads(json.dumps(expected))


@pytest.mark.parametrize(
    "module", ["neurotwin.stats", "neurotwin.data", "neurotwin.simulate", "neurotwin.report"]
)
def test_package_faces_and_shared_statistics_import_nothing_heavy(module):
    code = (
        "import json, sys, importlib\n"
        f"m = importlib.import_module({module!r})\n"
        "if hasattr(m, 'correlation'):\n"
        "    assert abs(float(m.correlation([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])) - 0.98198) < 1e-4\n"
        "dir(m)\n"
        f"print(json.dumps(sorted(x for x in {HEAVY!r} if x in sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out.strip()) == []


def test_an_aligned_submission_saved_and_loaded_scores_the_same(static_recording, tmp_path):
    truth = make_truth("sensorium", [static_recording])
    preds = _predictions(truth)
    preds.pop("final")  # a note travels with the file too
    aligned = check_submission("sensorium", preds, truth)
    path = aligned.save(tmp_path / "out" / "checked.npz")
    assert [p.name for p in path.parent.iterdir()] == ["checked.npz"]  # no temporary left
    loaded = AlignedSubmission.load(path)
    assert (loaded.track, loaded.track_version, loaded.notes) == (
        aligned.track,
        aligned.track_version,
        aligned.notes,
    )
    for phase, mice in aligned.phases.items():
        for mouse, values in mice.items():
            np.testing.assert_array_equal(loaded.phases[phase][mouse], values)
            assert loaded.phases[phase][mouse].dtype == values.dtype
    before = score_aligned("sensorium", aligned, truth).to_dict(per_neuron=True)
    assert score_aligned("sensorium", loaded, truth).to_dict(per_neuron=True) == before


def test_an_unreadable_aligned_file_is_one_clear_error(static_recording, tmp_path):
    truth = make_truth("sensorium", [static_recording])
    path = check_submission("sensorium", _predictions(truth), truth).save(tmp_path / "a.npz")
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    header = json.loads(np.load(path)["header"].item())
    cases = {
        "newer": {**header, "version": 99},
        "other": {**header, "format": "something-else"},
    }
    for what, changed in cases.items():
        np.savez(tmp_path / f"{what}.npz", header=np.array(json.dumps(changed)))
        with pytest.raises(AlignedFileError, match=r"upgrade neurotwin|not a neurotwin-aligned"):
            AlignedSubmission.load(tmp_path / f"{what}.npz")
    (tmp_path / "cut.npz").write_bytes(path.read_bytes()[:100])
    with pytest.raises(AlignedFileError, match="cannot read it"):
        AlignedSubmission.load(tmp_path / "cut.npz")
    missing = tmp_path / "missing.npz"
    with zipfile.ZipFile(missing, "w") as zf:
        zf.writestr("header.npy", members["header.npy"])
    with pytest.raises(AlignedFileError, match="misses the array"):
        AlignedSubmission.load(missing)


def test_every_track_metric_names_a_registered_measure_with_a_citation():
    for name in list_tracks():
        fmt = get_track(name).format
        for reported, measure in fmt.metrics.items():
            assert fmt.metric(reported) is get_measure(measure, "metric")
    for name in list_measures():
        measure = get_measure(name)
        assert measure.description and measure.citation and measure.direction == "higher"
    assert {"exact", "exact_stimulus_only", "estimate"} <= set(list_measures("ceiling"))
    assert "oracle_correlation" in list_measures("data")
    with pytest.raises(Exception, match="unknown metric 'oracle_correlation'; known: "):
        get_measure("oracle_correlation", "metric")
