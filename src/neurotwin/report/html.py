"""Write the report as one self-contained HTML page: inline CSS, figures as data URIs."""

from __future__ import annotations

import base64
import os
import time
from html import escape
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from neurotwin import __version__, atomic
from neurotwin.report import figures as F
from neurotwin.report import video as V
from neurotwin.report.data import ReportData, ScoreRow, facts_text
from neurotwin.report.video import VideoSections

#: Resolution of the embedded figures: enough for a screen, small enough for e-mail.
DPI = 100

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       max-width: 1000px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { padding: 0.25em 0.8em; border-bottom: 1px solid #eee; text-align: left; }
th { background: #f5f5f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.facts th { background: none; font-weight: 600; }
figure { margin: 0.8em 0; }
figure img { max-width: 100%; height: auto; }
.row { display: flex; flex-wrap: wrap; gap: 1em; }
.row figure { flex: 1 1 420px; }
p.explain { color: #333; }
p.note { color: #7a5b00; background: #fff8e1; padding: 0.4em 0.7em; border-radius: 4px; }
footer { margin-top: 3em; color: #888; font-size: 0.85em; }
"""


def figure_html(fig: Figure, alt: str) -> str:
    """Return ``fig`` as an HTML ``<figure>`` holding an inline base64 PNG (no network)."""
    data = base64.b64encode(F.figure_png(fig, DPI)).decode("ascii")
    return f'<figure><img src="data:image/png;base64,{data}" alt="{escape(alt)}"></figure>'


def paragraph_html(text: str, cls: str = "explain") -> str:
    """Return ``text`` as an escaped HTML paragraph of class ``cls``."""
    return f'<p class="{cls}">{escape(text)}</p>'


def write_html(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically (a temporary file renamed into place).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    return atomic.write_text(path, text)


def _num(x: float | None, percent: bool = False) -> str:
    if x is None or not np.isfinite(x):
        return "-"
    return f"{x:.1%}" if percent else f"{x:.4f}"


# ---------------------------------------------------------------------- sections
def _facts(data: ReportData) -> list[str]:
    if not data.facts:
        return [paragraph_html("No summary facts were given.", "note")]
    rows = "".join(
        f"<tr><th>{escape(str(k))}</th><td>{escape(facts_text(v))}</td></tr>"
        for k, v in data.facts.items()
    )
    return [f'<table class="facts">{rows}</table>']


def _score_row(r: ScoreRow) -> str:
    cells = [
        f"<td>{escape(r.phase)}</td>",
        f"<td>{escape(r.metric)}</td>",
        f'<td class="num">{_num(r.raw)}</td>',
        f'<td class="num">{_num(r.ceiling)}</td>',
        f'<td class="num">{_num(r.fraction, percent=True)}</td>',
        f"<td>{escape(r.ceiling_kind or '-')}</td>",
    ]
    return "<tr>" + "".join(cells) + "</tr>"


def _scores(data: ReportData) -> list[str]:
    if not data.scores:
        return [paragraph_html("No scores were given.", "note")]
    head = "".join(
        f"<th>{h}</th>" for h in ("phase", "metric", "raw", "ceiling", "fraction", "ceiling kind")
    )
    body = "".join(_score_row(r) for r in data.scores)
    out = [
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>",
        paragraph_html(
            "Raw is the metric averaged over neurons. The ceiling is the best any model could "
            "score given the trial-to-trial noise: 'exact' ceilings use the simulator's true "
            "firing rates as the prediction; 'estimate' ceilings come from repeated "
            "presentations of the same image and bound a model that sees only the image (a "
            "model using behaviour can exceed them). Fraction = raw / ceiling; unlike the raw "
            "single-trial correlation, which noise keeps well below 1, it is comparable "
            "across recordings. Data bounds describe the recording, not the model."
        ),
    ]
    if not any(r.ceiling is not None for r in data.scores):
        out.append(
            paragraph_html("No ceilings are known for these scores (no simulator truth).", "note")
        )
    return out


def _learning(data: ReportData) -> list[str]:
    if not data.learning_curve:
        return [paragraph_html("No learning curve was recorded for this model.", "note")]
    return [
        figure_html(F.learning_curve_figure(data.learning_curve), "learning curve"),
        paragraph_html(
            "Top: the training loss (Poisson negative log-likelihood) per epoch; it should "
            "fall steadily. Bottom: the single-trial correlation on the validation trials, "
            "which early stopping watches; it should rise and level off, and the weights of "
            "the best epoch (star) are the ones kept. Dashed lines mark learning-rate decays "
            "after a plateau; each usually buys a small further gain. A validation curve "
            "that peaks early and then falls while the loss keeps dropping is overfitting."
        ),
    ]


def _accuracy(data: ReportData) -> list[str]:
    corr, ceil = data.neuron_correlation, data.neuron_ceiling
    if corr is None:
        return [paragraph_html("No per-neuron scores were given.", "note")]
    figs = []
    if ceil is not None:
        figs.append(figure_html(F.ceiling_scatter_figure(corr, ceil), "model against ceiling"))
    figs.append(
        figure_html(F.correlation_histogram_figure(corr, ceil), "histogram of correlations")
    )
    out = [f'<div class="row">{"".join(figs)}</div>']
    if ceil is not None:
        out.append(
            paragraph_html(
                "Left: each dot is one neuron, its ceiling against the model's single-trial "
                "correlation on the test trials. For a simulated mouse the ceiling is the "
                "correlation of the neuron's true rate with its noisy responses: what a "
                "perfect model would score, so a perfect model puts every neuron on the "
                "solid identity line; the dashed line is 70% of the ceiling. Reliable "
                "neurons (right) should be predicted well; neurons far below the line at a "
                "high ceiling are systematic misses worth a look (receptive fields at the "
                "image border, complex cells, strong behavioural modulation). Right: the "
                "same values as distributions over neurons, means marked."
            )
        )
    else:
        out += [
            paragraph_html(
                "The distribution over neurons of the model's single-trial correlation on the "
                "test trials, its mean marked. Noise bounds this well below 1."
            ),
            paragraph_html(
                "No per-neuron ceilings: without the simulator's true rates the best possible "
                "correlation of each neuron is unknown, so the model-against-ceiling plot is "
                "left out.",
                "note",
            ),
        ]
    return out


def _traces(data: ReportData) -> list[str]:
    tr = data.traces
    if tr is None:
        return [paragraph_html("No example traces were given.", "note")]
    out = [
        figure_html(
            F.traces_figure(tr.prediction, tr.responses, tr.labels, tr.true_rate),
            "example neurons",
        )
    ]
    if tr.true_rate is not None:
        out.append(
            paragraph_html(
                "A few neurons over the test trials, sorted by the neuron's true rate, so the "
                "black line rises by construction. Grey dots are the recorded single-trial "
                "responses, scattered around the true rate by noise no model can remove; the "
                "blue line is the model's prediction. A good model's line hugs the black one; "
                "a flat blue line means the model misses what drives the neuron, and a blue "
                "line that rises too little or too much misjudges its gain."
            )
        )
    else:
        out += [
            paragraph_html(
                "A few neurons over the test trials, sorted by the model's prediction (blue). "
                "Grey dots are the recorded single-trial responses: for a good model they "
                "rise with the prediction, scattered by trial-to-trial noise."
            ),
            paragraph_html(
                "No true rates (no simulator truth): only responses and prediction.", "note"
            ),
        ]
    return out


def _receptive_fields(data: ReportData) -> list[str]:
    if data.rf_model is None:
        return [paragraph_html("The model reports no receptive-field positions.", "note")]
    fig = F.receptive_field_figure(data.rf_model, data.rf_true, data.image_hw, data.example_image)
    out = [figure_html(fig, "receptive-field positions")]
    if data.rf_true is not None:
        d = F.rf_distances(data.rf_model, data.rf_true)
        d = d[np.isfinite(d)]
        summary = (
            f"Distance between model and true centre over {len(d)} neurons: median "
            f"{np.median(d):.2f} px, mean {np.mean(d):.2f} px, 90th percentile "
            f"{np.percentile(d, 90):.2f} px"
            if len(d)
            else "No finite distances."
        )
        if data.image_hw is not None and len(d):
            summary += f" (image {data.image_hw[0]} x {data.image_hw[1]} px)."
        out += [
            paragraph_html(summary),
            paragraph_html(
                "Each neuron's receptive-field centre as the model's readout places it (blue "
                "crosses) and as the simulator drew it (black circles), joined by a line. The "
                "true centres follow a smooth retinotopic map of cortical position; a good "
                "model recovers that map with short lines and no systematic shift. Long lines "
                "usually belong to weakly driven or noisy neurons, whose position the data "
                "barely constrain. Right: the distribution of the distances."
            ),
        ]
    else:
        out += [
            paragraph_html(
                "Each neuron's receptive-field centre as the model's readout places it. In "
                "mouse V1 the centres should form a smooth retinotopic map covering part of "
                "the image."
            ),
            paragraph_html(
                "No true receptive fields (no simulator truth) to compare with.", "note"
            ),
        ]
    return out


def _rate_traces(video: VideoSections) -> list[str]:
    tr = video.rate_traces
    if tr is None:
        return [paragraph_html("No rate traces were given.", "note")]
    fig = V.rate_traces_figure(
        tr.prediction, tr.labels, tr.true_rate, tr.responses, first_frame=tr.first_frame
    )
    truth = (
        "the black line the simulator's true (noiseless) rate, " if tr.true_rate is not None else ""
    )
    return [
        figure_html(fig, "rates over time"),
        paragraph_html(
            "A few neurons over the frames of one test trial: the blue line is the model's "
            f"predicted rate, {truth}the grey line the recorded single-trial response. The "
            "scorer skips the first 50 frames (shaded), where the model is still taking in "
            "the video's start, and frames from 300 on. A good model follows the rises and "
            "falls of the true rate with the right timing; a prediction that lags it, or "
            "smooths over fast transients, misses the neuron's temporal filter."
        ),
    ]


def _classes(video: VideoSections) -> list[str]:
    if not video.class_scores:
        return [paragraph_html("No out-of-domain (bonus) scores were given.", "note")]
    fig = V.class_bars_figure(video.class_scores, video.class_ceilings)
    return [
        figure_html(fig, "out-of-domain classes"),
        paragraph_html(
            "The single-trial correlation on each out-of-domain stimulus class of the bonus "
            "track (stimuli unlike the natural training videos)"
            + (
                ", beside its exact ceiling (the true rates' correlation with the noisy "
                "responses) and labelled with the fraction of it reached. "
                if video.class_ceilings is not None
                else ". "
            )
            + "A class far below its ceiling is one the model does not generalise to; "
            "classes differ in ceiling because some drive the neurons harder than others."
        ),
    ]


def _frames(video: VideoSections) -> list[str]:
    if video.frame_correlation is None:
        return [paragraph_html("No per-frame correlation was given.", "note")]
    fig = V.frame_correlation_figure(
        video.frame_correlation, video.frame_ceiling, first_frame=video.first_frame
    )
    return [
        figure_html(fig, "correlation against frame index"),
        paragraph_html(
            "At each scored frame, every neuron's prediction is correlated with its response "
            "over the test trials and the mean over neurons is drawn"
            + (
                "; the orange curve does the same with the true rates, the best any model "
                "could do at that frame. "
                if video.frame_ceiling is not None
                else ". "
            )
            + "A model that needs time to build up its recurrent state scores lower on the "
            "early frames; a curve that falls late in the trial follows slow adaptation "
            "poorly. The pooled single-trial correlation of the score table is not the mean "
            "of this curve: it correlates over all frames of all trials at once."
        ),
    ]


def _video_sections(data: ReportData) -> list[tuple[str, str, list[str]]]:
    video = data.video
    if video is None:
        return []
    return [
        ("rate-traces", "Rates over time", _rate_traces(video)),
        ("ood-classes", "Out-of-domain classes", _classes(video)),
        ("frame-correlation", "Correlation against frame index", _frames(video)),
    ]


def render_report(data: ReportData) -> str:
    """Return the report page of ``data`` as one HTML string (no external resources).

    A static twin's page has the summary, scores, learning curve, per-neuron accuracy,
    example neurons and receptive fields; a video twin's (``data.video`` set) shows its
    rates over time, out-of-domain classes and correlation against frame index in place of
    the static example neurons (unless ``data.traces`` is given too).
    """
    sections = [
        ("summary", "Summary", _facts(data)),
        ("scores", "Scores", _scores(data)),
        ("learning-curve", "Learning curve", _learning(data)),
        ("neurons", "Per-neuron accuracy", _accuracy(data)),
    ]
    if data.video is None or data.traces is not None:
        sections.append(("traces", "Example neurons", _traces(data)))
    sections += _video_sections(data)
    sections.append(("receptive-fields", "Receptive fields", _receptive_fields(data)))
    if data.notes:
        sections.append(("notes", "Notes", [paragraph_html(n) for n in data.notes]))
    body = "\n".join(
        f'<section id="{sid}">\n<h2>{escape(heading)}</h2>\n' + "\n".join(parts) + "\n</section>"
        for sid, heading, parts in sections
    )
    stamp = time.strftime("%Y-%m-%d %H:%M")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(data.title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<h1>{escape(data.title)}</h1>\n{body}\n"
        f"<footer>Written by neurotwin {escape(__version__)} on {stamp}.</footer>\n"
        "</body>\n</html>\n"
    )


def write_report(path: str | os.PathLike[str], data: ReportData) -> Path:
    """Write the report of ``data`` as one self-contained HTML file.

    The page needs no network and no JavaScript: styles are inline and the figures are
    embedded PNG images. The file is written next to ``path`` under a temporary name and
    renamed into place, so an interrupted write never leaves a half page.

    Parameters
    ----------
    path
        The HTML file to write (its folder is created if needed).
    data
        What to show.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    return write_html(path, render_report(data))
