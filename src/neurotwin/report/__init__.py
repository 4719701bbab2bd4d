"""One self-contained HTML page about a trained model: scores, learning, neurons, retinotopy.

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
    },
)

__all__ = [
    "DATA_BOUND",
    "ReportData",
    "ReportError",
    "ScoreRow",
    "Traces",
    "ceiling_scatter_figure",
    "correlation_histogram_figure",
    "example_neurons",
    "figure_png",
    "learning_curve_figure",
    "lr_decays",
    "per_neuron_from_score_report",
    "receptive_field_figure",
    "render_report",
    "rescale_positions",
    "rf_distances",
    "rows_from_score_report",
    "traces_figure",
    "write_report",
]
