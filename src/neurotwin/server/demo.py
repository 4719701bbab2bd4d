"""``neurotwin serve init``: a competition folder, from truth files or from simulated mice.

``init_competition(..., simulate=True)`` builds a complete demo in about a minute: a tiny
simulated static mouse (track ``sensorium+``) and video mouse (``video-main`` and
``video-bonus``) in competition mode (held-out responses zeroed), their
ground truth cut into ``truth/`` (the simulator's truth folders are moved to ``hidden/``,
away from the public data in ``data/``), example submissions in ``examples/`` and a
``competition.json`` whose live phase is open now.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin import atomic
from neurotwin.scoring.submission import StaticPredictions, VideoPredictions, write_submission
from neurotwin.scoring.tracks import PHASES, get_track
from neurotwin.scoring.truth import Truth, make_truth
from neurotwin.scoring.truth_file import save_truth
from neurotwin.server.config import CONFIG_NAME, load_competition
from neurotwin.server.db import migrate, utcnow
from neurotwin.server.errors import CompetitionError

#: The tracks of the simulated demo, by the kind of simulated mouse they score.
DEMO_TRACKS = {"static": ("sensorium+",), "video": ("video-main", "video-bonus")}


def example_predictions(
    truth: Truth, track: str, noise: float = 1.0, seed: int = 0
) -> dict[str, StaticPredictions | VideoPredictions]:
    """Return predictions of both phases: the truth's rates (or responses) plus noise.

    A "noisy oracle" for trying a competition and for tests: with ``noise`` near 0 it
    reaches the ceiling, larger ``noise`` scores lower.

    Parameters
    ----------
    truth
        The track's ground truth.
    track
        The track identifier.
    noise
        Standard deviation of the Gaussian noise added, in the standardised unit.
    seed
        Seed of the noise.

    Returns
    -------
    dict
        ``{phase: predictions}`` for :func:`neurotwin.scoring.write_submission`.
    """
    t = get_track(track)
    rng = np.random.default_rng(seed)
    out: dict[str, StaticPredictions | VideoPredictions] = {}
    for phase in PHASES:
        tier_name = t.tier(phase)
        if t.kind == "static":
            mouse = truth.mice[0]
            tier = mouse.tiers[tier_name]
            base = tier.rates if tier.rates is not None else tier.responses
            out[phase] = StaticPredictions(
                trial_ids=tier.trial_ids,
                image_ids=tier.stimulus_ids,
                neuron_ids=mouse.unit_ids,
                values=(base + noise * rng.standard_normal(base.shape)).astype(np.float32),
            )
            continue
        mice, trials, values, ids = [], [], [], {}
        for mouse in truth.mice:
            tier = mouse.tiers[tier_name]
            assert tier.n_frames is not None
            base = tier.rates if tier.rates is not None else tier.responses
            ids[mouse.name] = mouse.unit_ids
            for k in range(tier.n_trials):
                frames = base[k, :, : int(tier.n_frames[k])]
                mice.append(mouse.name)
                trials.append(tier.trial_ids[k])
                values.append((frames + noise * rng.standard_normal(frames.shape)).astype("f4"))
        out[phase] = VideoPredictions(
            mice=np.array(mice), trial_ids=np.array(trials), neuron_ids=ids, values=values
        )
    return out


def write_example(truth: Truth, track: str, dest: Path, noise: float, seed: int = 0) -> Path:
    """Write an example submission upload (a zip of the track's files) and return it."""
    predictions = example_predictions(truth, track, noise, seed)
    if get_track(track).kind == "video":
        return write_submission(track, dest.with_suffix(".zip"), predictions)
    folder = write_submission(track, dest.with_name(dest.name + ".files"), predictions)
    archive = shutil.make_archive(str(dest), "zip", folder)
    shutil.rmtree(folder)
    return Path(archive)


def _simulate(folder: Path, seed: int) -> dict[str, str]:
    from neurotwin.simulate.recording import SIMULATORS

    data, hidden, truth_dir = folder / "data", folder / "hidden", folder / "truth"
    hidden.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)
    (folder / "examples").mkdir(exist_ok=True)
    truths: dict[str, str] = {}
    for kind, tracks in DEMO_TRACKS.items():
        mice = SIMULATORS[kind](data / kind, preset="tiny", seed=seed, mice=1, competition=True)
        sims = []
        for m in mice:
            target = hidden / m.truth.name
            if target.exists():
                shutil.rmtree(target)
            shutil.move(str(m.truth), target)
            sims.append(target)
        for track in tracks:
            truth = make_truth(track, [m.path for m in mice], simulator=sims)
            path = save_truth(truth, truth_dir / f"{track.replace('+', '-plus')}.npz")
            truths[track] = str(path.relative_to(folder))
            for name, noise in (("good", 0.5), ("weak", 3.0)):
                write_example(truth, track, folder / "examples" / f"{track}-{name}", noise)
    return truths


def init_competition(
    folder: str | os.PathLike[str],
    *,
    simulate: bool = False,
    tracks: dict[str, str] | None = None,
    title: str | None = None,
    database_url: str | None = None,
    seed: int = 0,
    submissions_per_day: int = 5,
    max_upload_mb: int = 1024,
    live_days: int = 30,
    final_days: int = 14,
) -> Path:
    """Create a competition folder (``competition.json``) and its database schema.

    Parameters
    ----------
    folder
        The folder to create or fill (an existing ``competition.json`` is an error).
    simulate
        Build the demo tracks from tiny simulated mice (see the module docstring).
    tracks
        Otherwise: ``{track: truth file}``; each truth file is copied into ``truth/``.
    title
        The competition's title.
    database_url
        A database URL to record (PostgreSQL for real deployments); SQLite in the
        folder when None.
    seed
        Simulation seed.
    submissions_per_day, max_upload_mb
        The limits of every track (edit ``competition.json`` for per-track values).
    live_days, final_days
        The live phase opens now and lasts ``live_days``; the final phase follows.

    Returns
    -------
    pathlib.Path
        The ``competition.json`` written.
    """
    folder = Path(folder).resolve()
    config = folder / CONFIG_NAME
    if config.exists():
        raise CompetitionError(f"{config} exists; this folder already holds a competition")
    if simulate == bool(tracks):
        raise CompetitionError("give either --simulate or at least one --track TRACK=TRUTH")
    folder.mkdir(parents=True, exist_ok=True)
    if simulate:
        truth_files = _simulate(folder, seed)
    else:
        assert tracks is not None
        truth_files = {}
        (folder / "truth").mkdir(exist_ok=True)
        for track, source in tracks.items():
            get_track(track)
            src = Path(source)
            if not src.is_file():
                raise CompetitionError(f"truth file {src} of track {track} does not exist")
            dest = folder / "truth" / src.name
            if src.resolve() != dest.resolve():
                shutil.copyfile(src, dest)
            truth_files[track] = str(dest.relative_to(folder))
    now = utcnow().replace(microsecond=0)
    live_start, live_end = now - timedelta(hours=1), now + timedelta(days=live_days)
    data: dict[str, Any] = {
        "title": title or ("neurotwin demo competition" if simulate else folder.name),
        "phases": {
            "live": {"start": live_start.isoformat() + "Z", "end": live_end.isoformat() + "Z"},
            "final": {
                "start": live_end.isoformat() + "Z",
                "end": (live_end + timedelta(days=final_days)).isoformat() + "Z",
            },
        },
        "tracks": {
            t: {
                "truth": path,
                "submissions_per_day": submissions_per_day,
                "max_upload_mb": max_upload_mb,
            }
            for t, path in truth_files.items()
        },
    }
    if database_url:
        data["database"] = database_url
    atomic.write_text(config, json.dumps(data, indent=2) + "\n")
    migrate(load_competition(folder, database_url).database_url)
    return config
