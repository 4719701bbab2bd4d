import json

from neurotwin.cli import main
from neurotwin.demo import run_demo


def test_demo_runs_end_to_end_on_the_tiny_mouse(tmp_path, capsys):
    result = run_demo(tmp_path, preset="tiny", seed=1, log=lambda line: None)
    assert sorted(p.name for p in result.submission.iterdir()) == [
        "submission_file_final_test.csv",
        "submission_file_live_test.csv",
    ]
    live = result.report.phases["live"].metrics["single_trial_correlation"]
    assert live.ceiling_kind == "exact"
    # the linear baseline learns something but stays clearly below the exact ceiling
    assert 0.02 < live.value < 0.8 * live.ceiling
    saved = json.loads(result.report_path.read_text())
    assert saved["track"] == "sensorium+"
    # a second run reuses the simulated mouse and scores the same
    assert main(["demo", "--out", str(tmp_path), "--preset", "tiny", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "reusing the simulated mouse" in out and "single_trial_correlation" in out
    again = json.loads(result.report_path.read_text())
    assert again == saved
