"""The main job on the built-in default: simulate a mouse, fit, predict, submit, score.

Until the deep baselines arrive this runs the linear :class:`~neurotwin.models.PixelRidge`
baseline, so the whole path (simulator, loaders and cache, submission files, scorer with
exact ceilings) is exercised end to end in well under a minute.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurotwin.data import StaticRecording, open_recording, static_loaders, validate_recording
from neurotwin.data.summary import summarize
from neurotwin.models import PixelRidge
from neurotwin.scoring import score
from neurotwin.scoring.scorer import ScoreReport
from neurotwin.scoring.submission import StaticPredictions, write_submission
from neurotwin.scoring.tracks import get_track
from neurotwin.simulate import simulate_static

TRACK = "sensorium+"


@dataclass
class DemoResult:
    """What the demo produced.

    Attributes
    ----------
    recording
        The simulated recording.
    submission
        The folder holding the track's two submission files.
    report
        The scores, beside their exact ceilings.
    report_path
        The scores as JSON.
    """

    recording: Path
    submission: Path
    report: ScoreReport
    report_path: Path


def _simulated(out: Path, preset: str, seed: int, log: Callable[[str], None]) -> Path:
    """Return the demo recording, simulating it unless an identical one is there."""
    data = out / f"data-{preset}-seed{seed}"
    recordings = sorted(p for p in data.glob("static*") if not p.name.endswith(".truth"))
    if len(recordings) == 1 and recordings[0].with_name(recordings[0].name + ".truth").is_dir():
        log(f"reusing the simulated mouse in {data}")
        return recordings[0]
    log(f"simulating a mouse (preset {preset!r}, seed {seed}) into {data}")
    (simulated,) = simulate_static(data, preset=preset, seed=seed, overwrite=True)
    return simulated.path


def run_demo(
    out: str | os.PathLike[str] = "runs/demo",
    *,
    preset: str = "demo",
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> DemoResult:
    """Simulate (or reuse) a mouse, fit the baseline, write a submission and score it.

    Parameters
    ----------
    out
        Folder for everything the demo writes (recording, cache, submission, report).
    preset
        Simulator preset: ``"demo"`` (default) or ``"tiny"`` (seconds).
    seed
        Seed of the simulation.
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

    track = get_track(TRACK)
    loaders = static_loaders(
        path,
        batch_size=256,
        include_behavior=True,
        include_eye_position=True,
        cache_dir=out / "cache",
        progress=False,
    )
    key = recording.key
    model = PixelRidge().fit(loaders["train"][key], loaders["validation"][key])
    log(
        f"fitted the pixel ridge baseline (penalty {model.penalty:g}): validation "
        f"correlation {model.validation_correlation:.3f}"
    )
    predictions = {}
    for phase in ("live", "final"):
        index, values = model.predict(loaders[track.tier(phase)][key])
        predictions[phase] = StaticPredictions(
            trial_ids=recording.trial_ids[index].astype(str),
            image_ids=recording.image_ids[index].astype(str),
            neuron_ids=np.asarray(recording.unit_ids, dtype=np.int64),
            values=values,
        )
    submission = write_submission(track, out / "submission", predictions)
    log(f"wrote the submission files to {submission}")
    report = score(track, path, submission)
    report_path = out / "report.json"
    tmp = report_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report.to_dict(), indent=2))
    os.replace(tmp, report_path)
    log(report.table())
    log(f"report: {report_path} ({time.perf_counter() - start:.0f} s)")
    return DemoResult(path, submission, report, report_path)
