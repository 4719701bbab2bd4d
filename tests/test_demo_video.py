"""``neurotwin demo --video`` on the tiny video mouse: both 2023 tracks, zips, scores, report."""

from __future__ import annotations

import json
import zipfile
from typing import Any

import pytest

from neurotwin import demo as demo_module
from neurotwin.cli import main
from neurotwin.demo import run_demo
from neurotwin.errors import NeurotwinError
from neurotwin.scoring.tracks import get_track


def test_video_demo_runs_end_to_end_on_the_tiny_mouse(tmp_path, capsys):
    result = run_demo(
        tmp_path, preset="tiny", seed=1, epochs=1, budget=None, progress=False, video=True
    )
    assert result.epochs == 1 and (result.run / "model.pt").is_file()
    assert sorted(result.submissions) == ["video-bonus", "video-main"]
    for name, path in result.submissions.items():
        track = get_track(name)
        with zipfile.ZipFile(path) as z:  # the upload names of the competition
            assert sorted(z.namelist()) == sorted(track.file_names(p)[0] for p in ("live", "final"))
    for name, report in result.reports.items():
        live = report.phases["live"].metrics["single_trial_correlation"]
        assert live.ceiling_kind == "exact" and 0 < live.ceiling < 1, name
        assert json.loads(result.report_paths[name].read_text())["track"] == name
    bonus = result.reports["video-bonus"].phases["live"].metrics["single_trial_correlation"]
    assert len(bonus.per_class) == 5
    html = result.html.read_text()
    for alt in ("rates over time", "out-of-domain classes", "correlation against frame index"):
        assert f'alt="{alt}"' in html
    assert "exact ceiling" in html and "(video-bonus)" in html
    assert "http://" not in html and "https://" not in html
    out = capsys.readouterr().out
    assert "track video-main" in out and "track video-bonus" in out


def test_the_command_line_runs_the_video_demo(monkeypatch):
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(demo_module, "run_demo", lambda out, **kw: calls.append(kw))
    assert main(["demo", "--video", "--mice", "2", "--preset", "tiny", "--no-progress"]) == 0
    assert calls[0]["video"] is True and calls[0]["mice"] == 2 and calls[0]["preset"] == "tiny"
    assert main(["demo", "--preset", "tiny"]) == 0  # the static demo, as before
    assert calls[1]["video"] is False and calls[1]["mice"] is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"video": True, "mice": 0}, "number of mice must be a positive integer: 0"),
        ({"mice": 2}, "the static demo has one mouse; 2 mice need the video demo"),
    ],
)
def test_a_bad_number_of_mice_is_one_clear_error(tmp_path, options, message):
    with pytest.raises(NeurotwinError, match=message):
        run_demo(tmp_path, preset="tiny", **options)
    assert not any(tmp_path.iterdir())  # refused before anything is written
