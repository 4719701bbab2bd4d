from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from neurotwin.errors import NeurotwinError
from neurotwin.report import (
    DATA_BOUND,
    ReportData,
    ScoreRow,
    Traces,
    ceiling_scatter_figure,
    correlation_histogram_figure,
    example_neurons,
    learning_curve_figure,
    lr_decays,
    per_neuron_from_score_report,
    receptive_field_figure,
    rescale_positions,
    rf_distances,
    rows_from_score_report,
    traces_figure,
    write_report,
)
from neurotwin.scoring.scorer import MetricScore, PhaseScore, ScoreReport

PNG = b"\x89PNG\r\n\x1a\n"
IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def synthetic(n: int = 60, trials: int = 80, seed: int = 0) -> ReportData:
    rng = np.random.default_rng(seed)
    ceiling = rng.uniform(0.2, 0.8, n)
    correlation = ceiling * rng.uniform(0.5, 0.95, n)
    correlation[3] = np.nan  # an undefined neuron must not break anything
    rate = rng.gamma(2.0, 0.5, (trials, 3))
    curve = [
        {
            "epoch": e,
            "train_loss": 1.0 / (e + 1),
            "validation_correlation": 0.3 * (1 - np.exp(-e / 3)),
            "lr": 0.009 if e < 6 else 0.0027,
        }
        for e in range(10)
    ]
    true_rf = np.column_stack([rng.uniform(2, 33, n), rng.uniform(2, 61, n)])
    return ReportData(
        title="Twin <of> mouse & co",
        facts={
            "recording": "static-sim-demo",
            "neurons": n,
            "trials": {"train": 400, "validation": 50, "test": trials},
            "training seconds": 12.345,
            "device": "cpu",
        },
        scores=[
            ScoreRow("live", "single_trial_correlation", 0.31, 0.45, 0.31 / 0.45, "exact"),
            ScoreRow("live", "oracle_correlation", 0.5, ceiling_kind=DATA_BOUND),
        ],
        learning_curve=curve,
        neuron_correlation=correlation,
        neuron_ceiling=ceiling,
        traces=Traces(
            prediction=rate * 0.8 + 0.1,
            responses=rng.poisson(rate * 3) / 3,
            labels=["unit 7", "unit <9>", "unit 11"],
            true_rate=rate,
        ),
        rf_model=true_rf + rng.normal(0, 1.5, (n, 2)),
        rf_true=true_rf,
        image_hw=(36, 64),
        example_image=rng.uniform(0, 255, (1, 36, 64)),
        notes=["fitted with <b>care</b>"],
    )


def images(text: str) -> list[bytes]:
    return [base64.b64decode(m) for m in IMG.findall(text)]


def check_self_contained(text: str) -> None:
    assert "http://" not in text and "https://" not in text
    assert "<script" not in text.lower()
    assert "url(" not in text
    for src in re.findall(r'src="([^"]*)"', text):
        assert src.startswith("data:image/png;base64,")
    assert "href=" not in text


def test_full_report_has_every_section_and_figure(tmp_path: Path) -> None:
    path = write_report(tmp_path / "out" / "report.html", synthetic())
    assert path == tmp_path / "out" / "report.html"
    text = path.read_text(encoding="utf-8")
    for sid in ("summary", "scores", "learning-curve", "neurons", "traces", "receptive-fields"):
        assert f'<section id="{sid}">' in text
    assert 'class="note"' not in text
    pngs = images(text)
    assert len(pngs) == 5  # learning curve, scatter, histogram, traces, receptive fields
    assert all(p.startswith(PNG) for p in pngs)
    check_self_contained(text)
    assert "<td>single_trial_correlation</td>" in text and "68.9%" in text
    assert "train 400, validation 50, test 80" in text
    assert "median" in text and " px" in text
    assert len(text) < 1_000_000
    assert list(path.parent.iterdir()) == [path]  # no temporary file left


def test_text_is_escaped(tmp_path: Path) -> None:
    text = write_report(tmp_path / "r.html", synthetic()).read_text(encoding="utf-8")
    assert "Twin &lt;of&gt; mouse &amp; co" in text
    assert "<of>" not in text
    assert "fitted with &lt;b&gt;care&lt;/b&gt;" in text


def test_minimal_report_has_notes(tmp_path: Path) -> None:
    path = write_report(tmp_path / "r.html", ReportData(title="nothing yet"))
    text = path.read_text(encoding="utf-8")
    check_self_contained(text)
    assert not images(text)
    assert text.count('class="note"') == 6
    assert "No learning curve" in text


def test_no_simulator_truth(tmp_path: Path) -> None:
    full = synthetic()
    assert full.traces is not None
    data = ReportData(
        title="real mouse",
        scores=[ScoreRow("live", "single_trial_correlation", 0.3)],
        neuron_correlation=full.neuron_correlation,
        traces=Traces(full.traces.prediction, full.traces.responses, full.traces.labels),
        rf_model=full.rf_model,
        image_hw=(36, 64),
    )
    text = write_report(tmp_path / "r.html", data).read_text(encoding="utf-8")
    check_self_contained(text)
    pngs = images(text)
    assert len(pngs) == 3  # histogram, traces, receptive fields; no scatter
    assert all(p.startswith(PNG) for p in pngs)
    assert "No per-neuron ceilings" in text
    assert "No true rates" in text
    assert "No true receptive fields" in text
    assert "No ceilings are known" in text


def test_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("neurotwin.report.html.os.replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_report(tmp_path / "r.html", ReportData(title="t"))
    assert list(tmp_path.iterdir()) == []


def test_overwrites_atomically(tmp_path: Path) -> None:
    path = tmp_path / "r.html"
    path.write_text("old")
    write_report(path, ReportData(title="new one"))
    assert "new one" in path.read_text(encoding="utf-8")
    assert list(tmp_path.iterdir()) == [path]


def test_inconsistent_data_is_refused() -> None:
    with pytest.raises(NeurotwinError, match="neuron_ceiling has 2 values, expected 3"):
        ReportData(title="t", neuron_correlation=np.zeros(3), neuron_ceiling=np.zeros(2))
    with pytest.raises(NeurotwinError, match="rf_true has shape"):
        ReportData(title="t", rf_model=np.zeros((3, 2)), rf_true=np.zeros((4, 2)))
    with pytest.raises(NeurotwinError, match="rf_model has shape"):
        ReportData(title="t", rf_model=np.zeros((3, 3)))
    with pytest.raises(NeurotwinError, match=r"traces\.labels has 1 names, expected 2"):
        Traces(np.zeros((5, 2)), np.zeros((5, 2)), ["a"])
    with pytest.raises(NeurotwinError, match=r"traces\.true_rate has shape"):
        Traces(np.zeros((5, 2)), np.zeros((5, 2)), ["a", "b"], np.zeros((4, 2)))
    with pytest.raises(NeurotwinError, match=r"learning_curve\[1\] has no 'epoch'"):
        ReportData(title="t", learning_curve=[{"epoch": 0}, {"lr": 1.0}])


def test_figures_on_their_own() -> None:
    data = synthetic(n=20, trials=30)
    assert data.neuron_correlation is not None and data.neuron_ceiling is not None
    assert data.traces is not None and data.rf_model is not None and data.learning_curve
    figs = [
        learning_curve_figure(data.learning_curve),
        ceiling_scatter_figure(data.neuron_correlation, data.neuron_ceiling),
        correlation_histogram_figure(data.neuron_correlation),
        traces_figure(data.traces.prediction, data.traces.responses, sort=False, max_trials=10),
        receptive_field_figure(data.rf_model),
    ]
    assert all(isinstance(f, Figure) for f in figs)
    assert lr_decays(data.learning_curve) == [(6.0, 0.0027)]


def test_rows_and_neurons_from_score_report() -> None:
    ms = MetricScore(
        name="single_trial_correlation",
        value=0.3,
        per_neuron={"a": np.array([0.2, 0.4]), "b": np.array([0.3])},
        per_mouse={"a": 0.3, "b": 0.3},
        ceiling=0.6,
        ceiling_kind="exact",
        ceiling_per_neuron={"a": np.array([0.5, 0.7]), "b": np.array([0.6])},
    )
    bare = MetricScore(
        name="feve", value=float("nan"), per_neuron={"a": np.zeros(2)}, per_mouse={"a": 0.0}
    )
    report = ScoreReport(
        track="t",
        track_version="1",
        ranking_metric="single_trial_correlation",
        phases={
            "live": PhaseScore(
                "live", "test", {ms.name: ms, "feve": bare}, {"explainable_variance": 0.4}
            )
        },
    )
    rows = rows_from_score_report(report)
    assert rows[0] == ScoreRow("live", "single_trial_correlation", 0.3, 0.6, 0.5, "exact")
    assert [r.metric for r in rows[1:3]] == [
        "single_trial_correlation, mouse a",
        "single_trial_correlation, mouse b",
    ]
    assert rows[3] == ScoreRow("live", "feve", None)
    assert rows[-1] == ScoreRow("live", "explainable_variance", 0.4, ceiling_kind=DATA_BOUND)
    assert len(rows_from_score_report(report, details=False)) == 2
    values, ceiling = per_neuron_from_score_report(report)
    np.testing.assert_allclose(values, [0.2, 0.4, 0.3])
    assert ceiling is not None
    np.testing.assert_allclose(ceiling, [0.5, 0.7, 0.6])
    assert per_neuron_from_score_report(report, metric="feve")[1] is None
    with pytest.raises(NeurotwinError, match="no phase 'final'"):
        per_neuron_from_score_report(report, phase="final")


def test_helpers() -> None:
    picks = example_neurons([0.1, np.nan, 0.9, 0.5, 0.3], k=3)
    assert picks.tolist() == [2, 4, 0]
    assert example_neurons([np.nan], k=2).size == 0
    np.testing.assert_allclose(
        rescale_positions(np.array([[-0.5, -0.5], [1.5, 3.5]]), (2, 4), (4, 8)),
        [[-0.5, -0.5], [3.5, 7.5]],
    )
    np.testing.assert_allclose(rf_distances(np.zeros((1, 2)), np.array([[3.0, 4.0]])), [5.0])
