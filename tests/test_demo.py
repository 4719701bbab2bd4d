import json

from neurotwin.cli import main
from neurotwin.demo import run_demo


def test_demo_runs_end_to_end_on_the_tiny_mouse(tmp_path, capsys):
    result = run_demo(tmp_path, preset="tiny", seed=1, epochs=2, progress=False, log=print)
    assert sorted(p.name for p in result.submission.iterdir()) == [
        "submission_file_final_test.csv",
        "submission_file_live_test.csv",
    ]
    assert (result.run / "model.pt").is_file()
    assert len((result.run / "metrics.jsonl").read_text().splitlines()) == 3  # epochs 0, 1, 2
    live = result.report.phases["live"].metrics["single_trial_correlation"]
    assert live.ceiling_kind == "exact" and 0 < live.ceiling < 1
    saved = json.loads(result.report_path.read_text())
    assert saved["track"] == "sensorium+"
    html = result.html.read_text()
    for section in ("Learning curve", "Receptive fields", "data:image/png;base64,"):
        assert section in html
    assert "http://" not in html and "https://" not in html
    out = capsys.readouterr().out
    assert "single_trial_correlation" in out and str(result.html.resolve()) in out

    # a second run reuses the simulated mouse and the finished training, and scores the same
    args = ["demo", "--out", str(tmp_path), "--preset", "tiny", "--seed", "1", "--epochs", "2"]
    assert main([*args, "--no-progress"]) == 0
    assert "reusing the mouse" in capsys.readouterr().out
    assert json.loads(result.report_path.read_text()) == saved
