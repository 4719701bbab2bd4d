"""The video report's figures and sections, from tiny arrays."""

from __future__ import annotations

import re

import numpy as np
import pytest
from matplotlib.figure import Figure

from neurotwin.report import (
    RateTraces,
    ReportData,
    ReportError,
    VideoSections,
    class_bars_figure,
    correlation_by_frame,
    frame_correlation_figure,
    rate_traces_figure,
    render_report,
)
from neurotwin.stats import correlation

IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]+)"')


def test_correlation_by_frame_correlates_over_the_trials_that_hold_each_frame() -> None:
    rng = np.random.default_rng(0)
    p = rng.normal(size=(5, 3, 4))
    r = p + rng.normal(size=(5, 3, 4))
    r[4, :, 3] = np.nan  # trial 4 ended before frame 3
    r[1:, :, 2] = np.nan  # only trial 0 holds frame 2
    got = correlation_by_frame(p, r)
    assert got[0] == pytest.approx(correlation(p[:, :, 0], r[:, :, 0], axis=0).mean())
    assert got[3] == pytest.approx(correlation(p[:4, :, 3], r[:4, :, 3], axis=0).mean())
    assert np.isnan(got[2])
    assert correlation_by_frame(p, p)[0] == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ReportError, match="must both be"):
        correlation_by_frame(p, r[:, :, :2])


def test_the_three_video_figures_draw_from_tiny_arrays() -> None:
    t = np.arange(60)
    rate = np.column_stack([1 + np.sin(t / 5), 1 + np.cos(t / 7)])
    fig = rate_traces_figure(rate * 0.9, ["unit 1", "unit 2"], rate, rate + 0.1, first_frame=0)
    assert isinstance(fig, Figure) and len(fig.axes) >= 2
    assert fig.axes[0].get_title() == "unit 1"
    assert len(fig.axes[0].lines) == 3  # responses, true rate, model
    only_model = rate_traces_figure(rate[:, :1])
    assert len(only_model.axes[0].lines) == 1

    bars = class_bars_figure({"gabor": 0.2, "flashes": 0.1}, {"gabor": 0.4, "flashes": 0.3})
    ax = bars.axes[0]
    assert len(ax.patches) == 4
    assert [a.get_text() for a in ax.texts] == ["50%", "33%"]
    with pytest.raises(ReportError, match="no value for class"):
        class_bars_figure({"gabor": 0.2}, {"flashes": 0.3})

    frames = frame_correlation_figure(np.linspace(0, 0.3, 10), np.full(10, 0.5), first_frame=50)
    line = frames.axes[0].lines[0]
    assert line.get_xdata()[0] == 50 and len(line.get_xdata()) == 10
    with pytest.raises(ReportError, match="one per frame"):
        frame_correlation_figure(np.zeros(10), np.zeros(9))


def test_a_video_report_shows_its_sections_and_a_static_one_does_not() -> None:
    video = VideoSections(
        rate_traces=RateTraces(np.ones((30, 2)), ["a", "b"], np.ones((30, 2)), first_frame=0),
        class_scores={"gabor": 0.2},
        class_ceilings={"gabor": 0.4},
        frame_correlation=np.linspace(0, 0.2, 5),
        frame_ceiling=np.full(5, 0.4),
    )
    html = render_report(ReportData("video twin", video=video))
    alts = [alt for _, alt in IMG.findall(html)]
    for alt in ("rates over time", "out-of-domain classes", "correlation against frame index"):
        assert alt in alts
    assert "Example neurons" not in html  # the static traces make way for the video ones
    static = render_report(ReportData("static twin"))
    assert "Rates over time" not in static and "Example neurons" in static
    with pytest.raises(ReportError, match=r"rate_traces\.true_rate has shape"):
        RateTraces(np.ones((30, 2)), ["a", "b"], np.ones((29, 2)))
    with pytest.raises(ReportError, match="class_ceilings has no value"):
        VideoSections(class_scores={"gabor": 0.1}, class_ceilings={})
