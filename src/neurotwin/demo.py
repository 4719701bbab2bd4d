"""The main job on the built-in default: simulate a mouse, train a twin, submit, score, report.

``run_demo`` simulates the demo mouse (or reuses it), builds the loaders' cache, trains the
``sensorium+`` baseline with the 2022 kit's recipe, predicts the two test tiers, writes the
track's submission files, scores them beside the simulation's exact ceilings and writes a
self-contained HTML report. Every step is resumable: a second run reuses the mouse, the
cache and the finished training run.

With ``video=True`` the same steps run on the 2023 task: simulated video mice
(:func:`~neurotwin.simulate.simulate_video`), the ``video-gru`` baseline trained on random
windows of their trials, both 2023 tracks (``video-main`` and ``video-bonus``) predicted,
written and scored beside their exact ceilings, and the report extended with the rates over
time of a few neurons, the out-of-domain classes and the correlation against frame index
(:class:`~neurotwin.report.VideoSections`).

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
from skimage.transform import resize

from neurotwin.atomic import write_text
from neurotwin.data import Recording, StaticRecording, open_recording, validate_recording
from neurotwin.data.cache import cache_for
from neurotwin.data.summary import summarize
from neurotwin.errors import NeurotwinError
from neurotwin.models import TwinModule
from neurotwin.report import (
    ReportData,
    Traces,
    VideoSections,
    correlation_by_frame,
    example_neurons,
    per_neuron_from_score_report,
    rescale_positions,
    rows_from_score_report,
    write_report,
)
from neurotwin.report.video import RateTraces
from neurotwin.scoring.aligned import AlignedSubmission
from neurotwin.scoring.metrics import SKIP_FRAMES
from neurotwin.scoring.predictions import StaticPredictions
from neurotwin.scoring.scorer import check_submission, resolve_truth, score_aligned
from neurotwin.scoring.scores import ScoreReport
from neurotwin.scoring.simulator_truth import (
    simulation_config,
    simulator_truth_path,
    true_receptive_fields,
)
from neurotwin.scoring.submission import write_submission
from neurotwin.scoring.tracks import PHASES, SINGLE_TRIAL, get_track
from neurotwin.scoring.truth import TierTruth, Truth
from neurotwin.simulate import simulate_static, simulate_video
from neurotwin.submit import track_predictions
from neurotwin.train import TrainConfig, TrainResult, fit
from neurotwin.train.fitting import VIDEO_VALIDATION, model_image_size

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
#: The video demo's baseline and tracks (the 2023 competition's two).
VIDEO_MODEL = "video-gru"
VIDEO_TRACKS = ("video-main", "video-bonus")
#: The video demo's recipe of each preset: ``TrainConfig`` fields (the 2023 kit's AdamW at
#: learning rate 0.005, batches of 8, and the weight decay of 0.01 that ``TrainConfig``
#: gives video models), plus ``frames`` (the random training windows: 40
#: instead of the kit's 80, half the cost of a step on a CPU) and ``model`` (the model's
#: config: the kit's ``video-gru`` scaled down to 16 channels to train on a CPU within the
#: budget).
VIDEO_RECIPES: dict[str, dict[str, Any]] = {
    "tiny": {
        "max_epochs": 2, "batch_size": 4, "optimizer": "adamw", "lr": 0.01, "frames": 30,
        "model": {"core": {"hidden_channels": 6, "layers": 2, "input_kern": 7,
                           "hidden_kern": 3, "gru_channels": 6, "gru_input_kern": 3,
                           "gru_recurrent_kern": 3}},
    },
    "demo": {
        "max_epochs": 40, "batch_size": 8, "optimizer": "adamw", "lr": 0.005, "frames": 40,
        "model": {"core": {"hidden_channels": 16, "layers": 3, "input_kern": 9,
                           "hidden_kern": 5, "gru_channels": 16, "gru_input_kern": 5,
                           "gru_recurrent_kern": 5}},
    },
}  # fmt: skip
#: Video mice of each preset.
VIDEO_MICE = {"tiny": 1, "demo": 1}
#: Simulator overrides of each preset. The demo's video mouse is the simulator's ``demo``
#: preset made small enough to simulate in seconds and train within the budget on a CPU:
#: 100 neurons, trials of 110-120 frames (frames 50 to the trial's end are scored), 60
#: training videos. The tiny video mouse, smaller still, runs in seconds.
VIDEO_SIMULATION: dict[str, dict[str, Any]] = {
    "tiny": {"neurons": 20, "height": 18, "width": 32, "min_frames": 60, "max_frames": 64},
    "demo": {"neurons": 100, "train": 60, "oracle_videos": 3, "oracle_repeats": 4,
             "test_videos": 3, "test_repeats": 3, "bonus_per_class": 1, "bonus_repeats": 2,
             "min_frames": 110, "max_frames": 120},
}  # fmt: skip
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
        The simulated recording (the first mouse of the video demo).
    run
        The training run folder (``model.pt``, ``metrics.jsonl``, ``checkpoint.pt``).
    submission
        The folder holding the submission files (the video demo: one zip per track).
    report
        The scores, beside their exact ceilings (of the first track).
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
    recordings
        Every simulated recording (the video demo's mice; ``recording`` is the first).
    reports
        Per track, its scores (``report`` is the first track's: ``video-main`` for videos).
    report_paths
        Per track, its scores as JSON (``report.json`` for the static demo's one track,
        ``report-{track}.json`` for the video tracks).
    submissions
        Per track, the submission written: the static track's folder of CSV files, each
        video track's zip of parquet files (``submission/video-main.zip``...).
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
    recordings: list[Path] = field(default_factory=list)
    reports: dict[str, ScoreReport] = field(default_factory=dict)
    report_paths: dict[str, Path] = field(default_factory=dict)
    submissions: dict[str, Path] = field(default_factory=dict)


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


def _simulated(
    out: Path, preset: str, seed: int, log: Callable[[str], None], video: bool, mice: int
) -> list[Path]:
    """Return the demo recordings, simulating them unless identical ones are there."""
    if not video:
        data = out / f"data-{preset}-seed{seed}"
        (simulated,) = simulate_static(data, preset=preset, seed=seed, reuse=True)
        log(f"{'reusing' if simulated.reused else 'simulated'} the mouse in {data}")
        return [simulated.path]
    data = out / f"data-video-{preset}-seed{seed}"
    made = simulate_video(data, preset, seed, mice, reuse=True, **VIDEO_SIMULATION.get(preset, {}))
    what = "mouse" if mice == 1 else f"{mice} mice"
    log(f"{'reusing' if all(m.reused for m in made) else 'simulated'} the video {what} in {data}")
    return [m.path for m in made]


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
    video: bool = False,
    mice: int | None = None,
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
        Most training epochs (default: the preset's in :data:`RECIPES` or
        :data:`VIDEO_RECIPES`).
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
    video
        The 2023 task: simulated video mice, the ``video-gru`` baseline, both video tracks
        (``video-main``, ``video-bonus``) and the report's video sections.
    mice
        Video: how many simulated mice share the model's core (default: the preset's in
        :data:`VIDEO_MICE`). The static demo has one mouse.

    Returns
    -------
    DemoResult
        Paths written, the score reports, the time of each step and the epochs trained.

    Raises
    ------
    NeurotwinError
        For a budget that is not a positive number, or a number of mice below 1 (or above
        1 without ``video``).
    """
    if budget is not None and (isinstance(budget, bool) or not budget > 0):
        raise NeurotwinError(f"the demo's budget must be a positive number of seconds: {budget!r}")
    if mice is not None and (isinstance(mice, bool) or not isinstance(mice, int) or mice < 1):
        raise NeurotwinError(f"the demo's number of mice must be a positive integer: {mice!r}")
    if mice not in (None, 1) and not video:
        raise NeurotwinError(f"the static demo has one mouse; {mice} mice need the video demo")
    out = Path(out)
    steps = _Steps(started)
    n_mice = (mice or VIDEO_MICE.get(preset, 1)) if video else 1
    paths = _simulated(out, preset, seed, log, video, n_mice)
    steps.done("simulate")
    recordings = [open_recording(p) for p in paths]
    for recording in recordings:
        info = summarize(recording)
        log(
            f"{info['name']}: {info['neurons']} neurons, "
            + ", ".join(f"{t} {n}" for t, n in info["tiers"].items())
        )
    errors = [p for path in paths for p in validate_recording(path) if p.severity == "error"]
    log(f"validated: {len(errors)} error(s)")
    steps.done("validate")
    for recording in recordings:
        cache_for(recording, model_image_size(recordings), out / "cache", progress=progress)
    steps.done("cache")

    name = VIDEO_MODEL if video else MODEL
    tracks = [get_track(t) for t in (VIDEO_TRACKS if video else (TRACK,))]
    recipes = VIDEO_RECIPES if video else RECIPES
    recipe = dict(recipes.get(preset, recipes["demo"]))
    model_config = dict(recipe.pop("model", {}))
    window = recipe.pop("frames", None)
    if epochs is not None:
        recipe["max_epochs"] = epochs
    limit = None if budget is None else train_budget(budget, steps.elapsed)
    limit = _finished_limit(out / "run", limit)
    validation = VIDEO_VALIDATION if video else "validation"
    tests = sum(r.tier_counts.get(t.tier(p), 0) for r in recordings for t in tracks for p in PHASES)
    validations = sum(r.tier_counts.get(validation, 0) for r in recordings)
    config = TrainConfig(
        seed=seed,
        device=device,
        progress=progress,
        time_limit=limit,
        reserve_validations=tests / max(validations, 1),
        **recipe,
    )
    within = "" if limit is None else f", within {limit:.0f} s of the {budget:.0f} s budget"
    log(f"training the {name!r} baseline (at most {config.max_epochs} epochs{within})")
    if budget is not None and limit is not None and limit < RESERVE_SECONDS:
        log(
            f"WARNING: the {budget:.0f} s budget leaves {limit:.0f} s for training after "
            f"the {steps.elapsed:.0f} s spent before it: probably not one "
            "epoch; training stops as soon as it knows (a longer budget: --budget)"
        )
    if window is not None:
        model_config["frames"] = window
    source: Any = recordings if video else recordings[0]
    trained = fit(
        source, name, out / "run", config, cache_dir=out / "cache", log=log, **model_config
    )
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

    options: dict[str, Any] = {"cache_dir": out / "cache", "device": str(_device(model))}
    predictions: dict[str, dict[str, Any]] = {}
    submissions: dict[str, Path] = {}
    for track in tracks:
        predictions[track.identifier] = track_predictions(model, source, track, **options)
        dest = out / "submission"
        if video:
            dest = dest / f"{track.identifier}.zip"
        submissions[track.identifier] = write_submission(track, dest, predictions[track.identifier])
        log(f"wrote the submission files to {submissions[track.identifier]}")
    steps.done("predict")
    # read once, from the open recordings: for the scores and the report's figures
    scored: dict[str, tuple[ScoreReport, Truth, AlignedSubmission]] = {}
    report_paths: dict[str, Path] = {}
    for track in tracks:
        truth = resolve_truth(track, cast(Any, recordings))
        aligned = check_submission(track, predictions[track.identifier], truth)
        report = score_aligned(track, aligned, truth)
        scored[track.identifier] = (report, truth, aligned)
        report_path = out / (
            "report.json" if len(tracks) == 1 else f"report-{track.identifier}.json"
        )
        write_text(report_path, json.dumps(report.to_dict(), indent=2))
        report_paths[track.identifier] = report_path
    steps.done("score")

    first = tracks[0].identifier
    report, truth, aligned = scored[first]
    if video:
        data = _video_report_data(recordings, model, trained, scored)
    else:
        live = truth.mice[0].tiers[tracks[0].tier("live")]
        recording = recordings[0]
        assert isinstance(recording, StaticRecording)
        live_predictions = cast(StaticPredictions, predictions[first]["live"])  # a static track
        data = _report_data(recording, model, trained, report, live_predictions, live)
    data.facts["budget"] = "none" if budget is None else f"{budget:.0f} s"
    data.facts["time per step"] = {k: f"{v:.1f} s" for k, v in steps.seconds.items()}
    data.notes.insert(0, longer_budget_note(trained))
    if untrained:
        data.notes.insert(0, untrained)
    html = write_report(out / "report.html", data)
    steps.done("report")
    for report, _, _ in scored.values():
        log(report.table())
    log(f"report: {html.resolve()} (scores as JSON: {', '.join(map(str, report_paths.values()))})")
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
        paths[0],
        out / "run",
        out / "submission",
        scored[first][0],
        report_paths[first],
        html,
        dict(steps.seconds),
        epochs_run,
        trained.stop_reason,
        recordings=paths,
        reports={k: v[0] for k, v in scored.items()},
        report_paths=report_paths,
        submissions=submissions,
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


def _facts(model: TwinModule, trained: TrainResult) -> dict[str, Any]:
    """Return the report's facts about training (the static and the video demo's)."""
    return {
        "epochs trained": len(trained.history) - 1
        or "0 (the model is untrained: the budget could not hold one epoch)",
        "best epoch": trained.best_epoch,
        "best validation correlation": round(trained.best_correlation, 4),
        "stopped by": trained.stop_reason,
        "training time": f"{sum(float(h.get('seconds', 0.0)) for h in trained.history):.0f} s",
        "device": str(_device(model)),
    }


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
        **_facts(model, trained),
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


def _video_report_data(
    recordings: Sequence[Recording],
    model: TwinModule,
    trained: TrainResult,
    scored: dict[str, tuple[ScoreReport, Truth, AlignedSubmission]],
) -> ReportData:
    """Gather the video report: scores of both tracks, and the rates, classes and frames."""
    main, main_truth, main_aligned = scored[VIDEO_TRACKS[0]]
    first = recordings[0]
    key = first.key
    hw: tuple[int, int] = model.infos[key].image_hw
    correlation, ceiling = per_neuron_from_score_report(main, phase="live")
    facts: dict[str, Any] = {
        "recordings": ", ".join(r.name for r in recordings),
        "neurons": sum(r.n_neurons for r in recordings),
        "trials": {t: n for t, n in first.tier_counts.items() if n},
        "model": model.name,
        "frame size": f"{hw[0]} x {hw[1]}",
        **_facts(model, trained),
    }
    rows = []
    for track, (report, _, _) in scored.items():
        for row in rows_from_score_report(report):
            row.metric = f"{row.metric} ({track})"
            rows.append(row)
    notes = []
    truth_dir = simulator_truth_path(first)
    centre = None if truth_dir is None else true_receptive_fields(truth_dir, first.unit_ids)
    rf_true = None
    if truth_dir is not None and centre is not None:
        simulation = simulation_config(truth_dir)
        grid = (simulation.get("model_height", hw[0]), simulation.get("model_width", hw[1]))
        rf_true = rescale_positions(centre, grid, hw)
    else:
        notes.append("no simulator truth beside the recording: true receptive fields unknown")
    frame = first.load("videos", int(first.tier_indices(VIDEO_VALIDATION)[0]))  # (h, w, T)
    return ReportData(
        title=f"neurotwin video demo: {model.name} on {_mice(len(recordings))}",
        facts=facts,
        scores=rows,
        learning_curve=trained.history,
        neuron_correlation=correlation,
        neuron_ceiling=ceiling,
        rf_model=model.receptive_field_positions(key),
        rf_true=rf_true,
        image_hw=hw,
        example_image=resize(frame[..., 0], hw, anti_aliasing=True, preserve_range=True),
        video=_video_sections(main, main_truth, main_aligned, scored[VIDEO_TRACKS[1]]),
        notes=notes,
    )


def _mice(n: int) -> str:
    return "the simulated video mouse" if n == 1 else f"{n} simulated video mice"


def _video_sections(
    main: ScoreReport,
    truth: Truth,
    aligned: AlignedSubmission,
    bonus: tuple[ScoreReport, Truth, AlignedSubmission],
) -> VideoSections:
    """Return the rates of a few neurons, the out-of-domain classes, the per-frame correlation."""
    phase = "live"
    tier = get_track(VIDEO_TRACKS[0]).tier(phase)
    mice = [(m, m.tiers[tier], aligned.phases[phase][m.name]) for m in truth.mice]
    # rates over time: the first mouse's first test trial, neurons spread over the scores
    mouse, first, predicted = mice[0]
    per_neuron = main.phases[phase].metrics[SINGLE_TRIAL].per_neuron[mouse.name]
    picked = example_neurons(per_neuron, k=3)
    assert first.n_frames is not None
    frames = int(first.n_frames[0])
    traces = RateTraces(
        prediction=predicted[0][picked, :frames].T,
        labels=[f"unit {mouse.unit_ids[i]} (r = {per_neuron[i]:.2f})" for i in picked],
        true_rate=None if first.rates is None else first.rates[0][picked, :frames].T,
        responses=first.responses[0][picked, :frames].T,
        first_frame=SKIP_FRAMES,
    )
    # correlation against frame index, mice weighted by their neurons
    width = max(p.shape[2] for _, _, p in mice)
    curves, ceilings, weights = [], [], []
    for _, t, p in mice:
        pad = ((0, 0), (0, 0), (0, width - p.shape[2]))
        curves.append(
            correlation_by_frame(
                np.pad(p, pad, constant_values=np.nan),
                np.pad(t.responses, pad, constant_values=np.nan),
            )
        )
        if t.rates is not None:
            ceilings.append(
                correlation_by_frame(
                    np.pad(t.rates, pad, constant_values=np.nan),
                    np.pad(t.responses, pad, constant_values=np.nan),
                )
            )
        weights.append(p.shape[1])
    frame_correlation = np.average(np.stack(curves), axis=0, weights=weights)
    frame_ceiling = (
        np.average(np.stack(ceilings), axis=0, weights=weights)
        if len(ceilings) == len(curves)
        else None
    )
    # out-of-domain classes, each beside its exact ceiling
    per_class = bonus[0].phases[phase].metrics[SINGLE_TRIAL]
    return VideoSections(
        rate_traces=traces,
        class_scores=per_class.per_class,
        class_ceilings=per_class.per_class_ceiling or None,
        frame_correlation=frame_correlation,
        frame_ceiling=frame_ceiling,
        first_frame=SKIP_FRAMES,
    )
