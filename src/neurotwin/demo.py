"""The main job on the built-in default: simulate a mouse, train a twin, submit, score, report.

``run_demo`` simulates the demo mouse (or reuses it), builds the loaders' cache, trains the
``sensorium+`` baseline with the 2022 kit's recipe, predicts the two test tiers, writes the
track's submission files, scores them beside the simulation's exact ceilings and writes a
self-contained HTML report. Every step is resumable: a second run reuses the mouse, the
cache and the finished training run.

The demo keeps a wall-clock budget (10 minutes by default, every step included). It times
each step; training gets what the steps before it left, less a reserve for the steps after
it (:func:`train_budget`), and stops after the last epoch that fits
(``TrainConfig.time_limit``), so a slower machine trains fewer epochs instead of running
late. The report and the printed summary say how many epochs ran, how long each step took
and how the validation correlation was still moving when training stopped.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
from skimage.transform import resize

from neurotwin.atomic import write_text
from neurotwin.data import StaticRecording, open_recording, validate_recording
from neurotwin.data.cache import cache_for
from neurotwin.data.summary import summarize
from neurotwin.errors import NeurotwinError
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
from neurotwin.train.fitting import model_image_size

TRACK = "sensorium+"
MODEL = "sensorium+"
#: The training recipe of each preset, on top of the 2022 kit's (``TrainConfig`` defaults).
#: The demo mouse trains with batches of 64 (more steps per epoch, and faster per image on a
#: CPU) for at most 15 epochs, with ``compile="auto"``: the first epoch runs eagerly, then
#: ``torch.compile`` is used only when the budget left pays for compiling (about 24 s an
#: epoch instead of 36 s on 2 cores, for a minute or more of compiling). The budget or early
#: stopping may end training sooner. The tiny mouse trains for seconds.
RECIPES: dict[str, dict[str, Any]] = {
    "tiny": {"max_epochs": 4},
    "demo": {"max_epochs": 15, "batch_size": 64, "compile": "auto"},
}
#: The README's promise: the demo, every step included, in 10 minutes.
DEFAULT_BUDGET = 600.0
#: Time kept for scoring and the report after training: a share of the budget and its floor
#: in seconds (on 2 CPU cores shared by other jobs they took 12 s, the report's figures most).
#: Predicting the test tiers is kept apart, measured: as many validation passes as the test
#: tiers hold validation tiers (``TrainConfig.reserve_validations``).
RESERVE_FRACTION = 0.03
RESERVE_SECONDS = 4.0


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
    steps
        Wall-clock seconds of each step, in order (``start``, from the command line only:
        its start-up, imports included; ``simulate``, ``validate``, ``cache``, ``train``,
        ``predict``, ``score``, ``report``); ``train`` includes any compiling.
    epochs
        Epochs trained.
    stop_reason
        Why training stopped (``"time_limit"`` when the budget ended it).
    """

    recording: Path
    run: Path
    submission: Path
    report: ScoreReport
    report_path: Path
    html: Path
    steps: dict[str, float]
    epochs: int
    stop_reason: str


def train_budget(budget: float, spent: float) -> float:
    """Return the training time limit: the budget left, less a reserve for scoring and report.

    Parameters
    ----------
    budget
        The demo's whole budget, in seconds.
    spent
        Seconds already spent (simulating, validating, caching).

    Returns
    -------
    float
        ``budget - spent - max(RESERVE_FRACTION * budget, RESERVE_SECONDS)``, at least a
        millisecond (the trainer then abandons its first epoch after one batch).
    """
    reserve = max(RESERVE_FRACTION * budget, RESERVE_SECONDS)
    return max(budget - spent - reserve, 1e-3)


class _Steps:
    """Times the demo's steps."""

    def __init__(self, started: float | None = None) -> None:
        self.start = time.perf_counter() if started is None else started
        self.seconds: dict[str, float] = {}
        self.last = self.start
        if started is not None:
            self.done("start")

    def done(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = now - self.last
        self.last = now

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start


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
    budget: float | None = DEFAULT_BUDGET,
    device: str = "auto",
    progress: bool = True,
    log: Callable[[str], None] = print,
    started: float | None = None,
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
    budget
        Wall-clock seconds for the whole demo (default 600, the README's promise); None
        trains for the preset's epochs whatever they take.
    device
        ``"auto"`` (a GPU when there is one), ``"cpu"``, ``"cuda"``...
    progress
        Show progress bars.
    log
        Where progress lines go.
    started
        ``time.perf_counter()`` when the demo's clock starts (the command line passes its
        own start, so the budget counts the start-up: importing torch takes seconds); None:
        now.

    Returns
    -------
    DemoResult
        Paths written, the score report, the time of each step and the epochs trained.

    Raises
    ------
    NeurotwinError
        For a budget that is not a positive number.
    """
    if budget is not None and (isinstance(budget, bool) or not budget > 0):
        raise NeurotwinError(f"the demo's budget must be a positive number of seconds: {budget!r}")
    out = Path(out)
    steps = _Steps(started)
    path = _simulated(out, preset, seed, log)
    steps.done("simulate")
    recording = open_recording(path)
    assert isinstance(recording, StaticRecording)
    info = summarize(recording)
    log(
        f"{info['name']}: {info['neurons']} neurons, "
        + ", ".join(f"{t} {n}" for t, n in info["tiers"].items())
    )
    errors = [p for p in validate_recording(path) if p.severity == "error"]
    log(f"validated: {len(errors)} error(s)")
    steps.done("validate")
    cache_for(recording, model_image_size(recording), out / "cache", progress=progress)
    steps.done("cache")

    recipe = dict(RECIPES.get(preset, RECIPES["demo"]))
    if epochs is not None:
        recipe["max_epochs"] = epochs
    limit = None if budget is None else train_budget(budget, steps.elapsed)
    limit = _finished_limit(out / "run", limit)
    counts = recording.tier_counts
    tests = sum(counts.get(t, 0) for t in get_track(TRACK).tiers.values())
    config = TrainConfig(
        seed=seed,
        device=device,
        progress=progress,
        time_limit=limit,
        reserve_validations=tests / max(counts.get("validation", 0), 1),
        **recipe,
    )
    within = "" if limit is None else f", within {limit:.0f} s of the {budget:.0f} s budget"
    log(f"training the {MODEL!r} baseline (at most {config.max_epochs} epochs{within})")
    if budget is not None and limit is not None and limit < RESERVE_SECONDS:
        log(
            f"WARNING: the {budget:.0f} s budget leaves {limit:.0f} s for training after "
            f"the {steps.elapsed:.0f} s spent before it: probably not one "
            "epoch; training stops as soon as it knows (a longer budget: --budget)"
        )
    trained = fit(recording, MODEL, out / "run", config, cache_dir=out / "cache", log=log)
    model = trained.model
    assert isinstance(model, TwinModule)
    steps.done("train")
    epochs_run = len(trained.history) - 1
    untrained = ""
    if epochs_run == 0:
        before = {k: v for k, v in steps.seconds.items() if k != "train"}
        need = one_epoch_budget(trained, before, config.reserve_validations)
        untrained = (
            "WARNING: NO EPOCH TRAINED: "
            + (
                ""
                if need is None
                else f"this budget cannot hold one epoch; about {need:.0f} s would. "
            )
            + "The model is untrained: the scores below are those of its random initial weights."
        )
        log(untrained)

    track = get_track(TRACK)
    options: dict[str, Any] = {"cache_dir": out / "cache", "device": str(_device(model))}
    predictions = track_predictions(model, recording, track, **options)
    submission = write_submission(track, out / "submission", predictions)
    log(f"wrote the submission files to {submission}")
    steps.done("predict")
    # read once, from the open recording: for the scores and the report's traces
    truth = resolve_truth(track, cast(Any, [recording]))
    report = score(track, truth, predictions)
    report_path = out / "report.json"
    write_text(report_path, json.dumps(report.to_dict(), indent=2))
    steps.done("score")

    live = truth.mice[0].tiers[track.tier("live")]
    live_predictions = cast(StaticPredictions, predictions["live"])  # a static track
    data = _report_data(recording, model, trained, report, live_predictions, live)
    data.facts["budget"] = "none" if budget is None else f"{budget:.0f} s"
    data.facts["time per step"] = {k: f"{v:.1f} s" for k, v in steps.seconds.items()}
    data.notes.insert(0, longer_budget_note(trained))
    if untrained:
        data.notes.insert(0, untrained)
    html = write_report(out / "report.html", data)
    steps.done("report")
    log(report.table())
    log(f"report: {html.resolve()} (scores as JSON: {report_path})")
    log(
        f"trained {epochs_run} epoch(s), stopped by {trained.stop_reason}; time per step: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in steps.seconds.items())
    )
    log(longer_budget_note(trained))
    if untrained:
        log(untrained)
    budget_text = "" if budget is None else f" (budget {budget:.0f} s)"
    if budget is not None and steps.elapsed > budget:
        budget_text = f" (budget {budget:.0f} s, OVER by {steps.elapsed - budget:.0f} s)"
    log(f"done in {steps.elapsed:.0f} s{budget_text}")
    return DemoResult(
        path,
        out / "run",
        submission,
        report,
        report_path,
        html,
        dict(steps.seconds),
        epochs_run,
        trained.stop_reason,
    )


def _finished_limit(run: Path, limit: float | None) -> float | None:
    """Return a finished run's own time limit (so that it is reused as it is), else ``limit``."""
    if not (run / "model.pt").is_file():
        return limit
    try:
        saved = json.loads((run / "config.json").read_text())["train"]
    except (OSError, ValueError, KeyError, TypeError):
        return limit
    value = saved.get("time_limit") if isinstance(saved, dict) else None
    return float(value) if isinstance(value, int | float) else limit


def one_epoch_budget(
    trained: TrainResult, steps: dict[str, float], reserve_validations: float
) -> float | None:
    """Return the demo budget that would have trained one epoch, from this run's times.

    Parameters
    ----------
    trained
        A run that trained no epoch (its epoch 0 entry holds the abandoned epoch's
        projected seconds, ``abandoned_epoch_seconds``).
    steps
        Seconds of the demo's steps before training.
    reserve_validations
        Validation passes kept free for predicting the test tiers.

    Returns
    -------
    float or None
        The steps before training, the training call's time before the epoch (building,
        the untrained validation), the epoch, the test tiers' prediction and the reserve
        of :func:`train_budget`, in seconds; None when the epoch's length is unknown.
    """
    first = trained.history[0]
    epoch = first.get("abandoned_epoch_seconds")
    if epoch is None:
        return None
    validation = float(first.get("seconds", 0.0))
    before_epoch = float(first.get("abandoned_epoch_start", validation))
    fixed = sum(steps.values()) + before_epoch + float(epoch) + validation * reserve_validations
    return max(fixed + RESERVE_SECONDS, fixed / (1 - RESERVE_FRACTION))


def longer_budget_note(trained: TrainResult) -> str:
    """Say what a longer budget would give, from the learning curve so far.

    Parameters
    ----------
    trained
        The training run (its history holds one entry per epoch, epoch 0 first).

    Returns
    -------
    str
        One sentence: why training stopped, the time of an epoch and how much the
        validation correlation rose over the last epochs.
    """
    history = trained.history
    epochs = len(history) - 1
    last = history[-1]
    if epochs < 1:
        projected = last.get("abandoned_epoch_seconds")
        if projected is None:
            return "No epoch was trained."
        how = "estimated" if last.get("abandoned_after_batches") == 0 else "projected"
        return (
            f"No epoch fitted in the budget: the first was {how} to take {projected:.0f} s "
            "and was abandoned, so the model is untrained; a budget leaving that much time "
            "for the epoch would train one."
        )
    seconds = float(last["seconds"]) - float(last.get("compile_seconds") or 0.0)
    if trained.stop_reason == "patience":
        return (
            f"Training stopped early after {epochs} epoch(s): the validation correlation had "
            "stopped improving, so a longer budget would not change the model."
        )
    window = history[max(0, len(history) - 4) :]
    rise = float(window[-1]["validation_correlation"]) - float(window[0]["validation_correlation"])
    span = len(window) - 1
    why = "the time budget" if trained.stop_reason == "time_limit" else "the epoch limit"
    return (
        f"Training stopped after {epochs} epoch(s), ended by {why}; an epoch took "
        f"{seconds:.1f} s. Over the last {span} epoch(s) the validation correlation rose by "
        f"{rise:+.4f} (to {float(last['validation_correlation']):.4f}; best "
        f"{trained.best_correlation:.4f} at epoch {trained.best_epoch}): "
        + (
            "a longer budget would likely raise it further (see the learning curve)."
            if rise > 0
            else "a longer budget would likely change little."
        )
    )


def _device(model: TwinModule) -> Any:
    return next(model.parameters()).device


def _report_data(
    recording: StaticRecording,
    model: TwinModule,
    trained: TrainResult,
    report: ScoreReport,
    live: StaticPredictions,
    tier: TierTruth,
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
        "epochs trained": len(trained.history) - 1
        or "0 (the model is untrained: the budget could not hold one epoch)",
        "best epoch": trained.best_epoch,
        "best validation correlation": round(trained.best_correlation, 4),
        "stopped by": trained.stop_reason,
        "training time": f"{sum(float(h.get('seconds', 0.0)) for h in trained.history):.0f} s",
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
