"""One self-contained HTML page about a trained model: scores, learning, neurons, retinotopy.

A video twin's page adds its rates over time, out-of-domain classes and correlation against
frame index (:class:`VideoSections`).

Build a :class:`ReportData` from plain arrays (the scorer's report, the trainer's metrics,
the simulator's truth) and hand it to :func:`write_report`. The figure functions work on
their own too and return :class:`matplotlib.figure.Figure` objects. Importing this package
is light: matplotlib is imported when a name is first used.
"""

from typing import TYPE_CHECKING

from neurotwin._lazy import lazy_exports

if TYPE_CHECKING:
    from neurotwin.report.data import (
        DATA_BOUND,
        ReportData,
        ReportError,
        ScoreRow,
        Traces,
        example_neurons,
        per_neuron_from_score_report,
        rescale_positions,
        rows_from_score_report,
    )
    from neurotwin.report.figures import (
        ceiling_scatter_figure,
        correlation_histogram_figure,
        figure_png,
        learning_curve_figure,
        lr_decays,
        receptive_field_figure,
        rf_distances,
        traces_figure,
    )
    from neurotwin.report.html import render_report, write_report
    from neurotwin.report.video import (
        RateTraces,
        VideoSections,
        class_bars_figure,
        correlation_by_frame,
        frame_correlation_figure,
        rate_traces_figure,
    )

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "DATA_BOUND": "neurotwin.report.data",
        "ReportData": "neurotwin.report.data",
        "ReportError": "neurotwin.report.data",
        "ScoreRow": "neurotwin.report.data",
        "Traces": "neurotwin.report.data",
        "example_neurons": "neurotwin.report.data",
        "per_neuron_from_score_report": "neurotwin.report.data",
        "rescale_positions": "neurotwin.report.data",
        "rows_from_score_report": "neurotwin.report.data",
        "ceiling_scatter_figure": "neurotwin.report.figures",
        "correlation_histogram_figure": "neurotwin.report.figures",
        "figure_png": "neurotwin.report.figures",
        "learning_curve_figure": "neurotwin.report.figures",
        "lr_decays": "neurotwin.report.figures",
        "receptive_field_figure": "neurotwin.report.figures",
        "rf_distances": "neurotwin.report.figures",
        "traces_figure": "neurotwin.report.figures",
        "render_report": "neurotwin.report.html",
        "write_report": "neurotwin.report.html",
        "RateTraces": "neurotwin.report.video",
        "VideoSections": "neurotwin.report.video",
        "class_bars_figure": "neurotwin.report.video",
        "correlation_by_frame": "neurotwin.report.video",
        "frame_correlation_figure": "neurotwin.report.video",
        "rate_traces_figure": "neurotwin.report.video",
    },
)

__all__ = [
    "DATA_BOUND",
    "RateTraces",
    "ReportData",
    "ReportError",
    "ScoreRow",
    "Traces",
    "VideoSections",
    "class_bars_figure",
    "ceiling_scatter_figure",
    "correlation_by_frame",
    "correlation_histogram_figure",
    "example_neurons",
    "figure_png",
    "frame_correlation_figure",
    "learning_curve_figure",
    "lr_decays",
    "per_neuron_from_score_report",
    "rate_traces_figure",
    "receptive_field_figure",
    "render_report",
    "rescale_positions",
    "rf_distances",
    "rows_from_score_report",
    "traces_figure",
    "write_report",
]
