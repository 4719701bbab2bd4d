"""The main job on the built-in default: simulate a mouse, train a twin, submit, score, report.

``run_demo`` simulates the demo mouse (or reuses it), trains the ``sensorium+`` baseline
with the 2022 kit's recipe for a bounded number of epochs, predicts the two test tiers,
writes the track's submission files, scores them beside the simulation's exact ceilings
and writes a self-contained HTML report. Every step is resumable: a second run reuses the
mouse, the cache and the finished training run.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from skimage.transform import resize

from neurotwin.data import StaticRecording, open_recording, validate_recording
from neurotwin.data.summary import summarize
from neurotwin.models import TwinModule
from neurotwin.report import (
    ReportData,
    Traces,
    example_neurons,
    per_neuron_from_score_report,
    rescale_positions,
    rows_from_score_report,
    write_report,
)
from neurotwin.scoring.predictions import StaticPredictions
from neurotwin.scoring.scorer import resolve_truth, score
from neurotwin.scoring.scores import ScoreReport
from neurotwin.scoring.simulator_truth import (
    simulation_config,
    simulator_truth_path,
    true_receptive_fields,
)
from neurotwin.scoring.submission import write_submission
from neurotwin.scoring.tracks import get_track
from neurotwin.scoring.truth import TierTruth
from neurotwin.simulate import simulate_static
from neurotwin.submit import track_predictions
from neurotwin.train import TrainConfig, TrainResult, fit

TRACK = "sensorium+"
MODEL = "sensorium+"
#: The training recipe of each preset, on top of the 2022 kit's (``TrainConfig`` defaults).
#: The demo mouse trains with batches of 64 (more steps per epoch, and faster per image on a
#: CPU) and ``torch.compile`` (about 24 s an epoch instead of 36 s on 2 cores; it falls back
#: to eager mode where compiling fails); 15 epochs keep the demo under 10 minutes. Early
#: stopping may end it sooner. The tiny mouse trains for seconds, where compiling does not pay.
RECIPES: dict[str, dict[str, Any]] = {
    "tiny": {"max_epochs": 4},
    "demo": {"max_epochs": 15, "batch_size": 64, "compile": True},
}


@dataclass
class DemoResult:
    """What the demo produced.

    Attributes
    ----------
    recording
        The simulated recording.
    run
        The training run folder (``model.pt``, ``metrics.jsonl``, ``checkpoint.pt``).
    submission
        The folder holding the track's two submission files.
    report
        The scores, beside their exact ceilings.
    report_path
        The scores as JSON.
    html
        The self-contained HTML report.
    """

    recording: Path
    run: Path
    submission: Path
    report: ScoreReport
    report_path: Path
    html: Path


def _simulated(out: Path, preset: str, seed: int, log: Callable[[str], None]) -> Path:
    """Return the demo recording, simulating it unless an identical one is there."""
    data = out / f"data-{preset}-seed{seed}"
    (simulated,) = simulate_static(data, preset=preset, seed=seed, reuse=True)
    log(f"{'reusing' if simulated.reused else 'simulated'} the mouse in {data}")
    return simulated.path


def run_demo(
    out: str | os.PathLike[str] = "runs/demo",
    *,
    preset: str = "demo",
    seed: int = 0,
    epochs: int | None = None,
    device: str = "auto",
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> DemoResult:
    """Simulate (or reuse) a mouse, train the baseline, submit, score and report.

    Parameters
    ----------
    out
        Folder for everything the demo writes (recording, cache, run, submission, reports).
    preset
        Simulator preset: ``"demo"`` (default) or ``"tiny"`` (seconds).
    seed
        Seed of the simulation and of the training.
    epochs
        Most training epochs (default: the preset's in :data:`RECIPES`).
    device
        ``"auto"`` (a GPU when there is one), ``"cpu"``, ``"cuda"``...
    progress
        Show progress bars.
    log
        Where progress lines go.

    Returns
    -------
    DemoResult
        Paths written and the score report.
    """
    out = Path(out)
    start = time.perf_counter()
    path = _simulated(out, preset, seed, log)
    recording = open_recording(path)
    assert isinstance(recording, StaticRecording)
    info = summarize(recording)
    log(
        f"{info['name']}: {info['neurons']} neurons, "
        + ", ".join(f"{t} {n}" for t, n in info["tiers"].items())
    )
    errors = [p for p in validate_recording(path) if p.severity == "error"]
    log(f"validated: {len(errors)} error(s)")

    recipe = dict(RECIPES.get(preset, RECIPES["demo"]))
    if epochs is not None:
        recipe["max_epochs"] = epochs
    config = TrainConfig(seed=seed, device=device, progress=progress, **recipe)
    log(f"training the {MODEL!r} baseline (at most {config.max_epochs} epochs)")
    trained = fit(path, MODEL, out / "run", config, cache_dir=out / "cache", log=log)
    model = trained.model
    assert isinstance(model, TwinModule)
    train_seconds = sum(float(h.get("seconds", 0.0)) for h in trained.history)

    track = get_track(TRACK)
    options: dict[str, Any] = {"cache_dir": out / "cache", "device": str(_device(model))}
    predictions = track_predictions(model, path, track, **options)
    submission = write_submission(track, out / "submission", predictions)
    log(f"wrote the submission files to {submission}")
    truth = resolve_truth(track, path)  # read once: for the scores and the report's traces
    report = score(track, truth, predictions)
    report_path = out / "report.json"
    tmp = report_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report.to_dict(), indent=2))
    os.replace(tmp, report_path)

    live = truth.mice[0].tiers[track.tier("live")]
    data = _report_data(recording, model, trained, report, predictions["live"], live, train_seconds)
    html = write_report(out / "report.html", data)
    log(report.table())
    log(f"report: {html.resolve()} (scores as JSON: {report_path})")
    log(f"done in {time.perf_counter() - start:.0f} s")
    return DemoResult(path, out / "run", submission, report, report_path, html)


def _device(model: TwinModule) -> Any:
    return next(model.parameters()).device


def _report_data(
    recording: StaticRecording,
    model: TwinModule,
    trained: TrainResult,
    report: ScoreReport,
    live: StaticPredictions,
    tier: TierTruth,
    train_seconds: float,
) -> ReportData:
    """Gather what the HTML report shows from the run, the scores and the simulator's truth."""
    key = recording.key
    hw: tuple[int, int] = model.infos[key].image_hw
    correlation, ceiling = per_neuron_from_score_report(report, phase="live")
    facts: dict[str, Any] = {
        "recording": recording.name,
        "neurons": recording.n_neurons,
        "trials": {t: n for t, n in recording.tier_counts.items() if n},
        "model": model.name,
        "image size": f"{hw[0]} x {hw[1]}",
        "epochs trained": len(trained.history) - 1,
        "best epoch": trained.best_epoch,
        "best validation correlation": round(trained.best_correlation, 4),
        "stopped by": trained.stop_reason,
        "training time": f"{train_seconds:.0f} s",
        "device": str(_device(model)),
    }
    notes = []
    rf_true: np.ndarray | None = None
    row = {t: i for i, t in enumerate(tier.trial_ids.astype(str))}
    order = np.array([row[t] for t in live.trial_ids.astype(str)])
    picked = example_neurons(correlation, k=4)
    traces = Traces(
        prediction=live.values[:, picked],
        responses=tier.responses[order][:, picked],
        labels=[f"unit {live.neuron_ids[i]} (r = {correlation[i]:.2f})" for i in picked],
        true_rate=None if tier.rates is None else tier.rates[order][:, picked],
    )
    truth_dir = simulator_truth_path(recording)
    centre = None if truth_dir is None else true_receptive_fields(truth_dir, recording.unit_ids)
    if truth_dir is not None and centre is not None:
        simulation = simulation_config(truth_dir)
        grid = (simulation["model_height"], simulation["model_width"])
        rf_true = rescale_positions(centre, grid, hw)
    else:
        notes.append("no simulator truth beside the recording: true receptive fields unknown")
    image = recording.load("images", int(recording.tier_indices("test")[0]))[0]
    return ReportData(
        title=f"neurotwin demo: {model.name} on the simulated mouse",
        facts=facts,
        scores=rows_from_score_report(report),
        learning_curve=trained.history,
        neuron_correlation=correlation,
        neuron_ceiling=ceiling,
        traces=traces,
        rf_model=model.receptive_field_positions(key),
        rf_true=rf_true,
        image_hw=hw,
        example_image=resize(image, hw, anti_aliasing=True, preserve_range=True),
        notes=notes,
    )
