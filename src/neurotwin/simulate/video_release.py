"""Simulate video (SENSORIUM 2023) recordings: natural and out-of-domain videos, per trial."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin.data import RecordingWriter
from neurotwin.simulate import release as r
from neurotwin.simulate.config import VideoConfig, make_config
from neurotwin.simulate.release import HELD_OUT, SimulatedRecording, recording_name
from neurotwin.simulate.truth import TruthWriter, truth_path
from neurotwin.simulate.video_mouse import VideoMouse


def simulate_video(
    dest: str | os.PathLike[str],
    preset: str = "tiny",
    seed: int = 0,
    mice: int = 1,
    competition: bool = False,
    as_zip: bool = False,
    *,
    track: str = "behavior",
    overwrite: bool = False,
    reuse: bool = False,
    **overrides: Any,
) -> list[SimulatedRecording]:
    """Simulate video (SENSORIUM 2023) recordings, one per mouse, with their ground truth.

    Parameters
    ----------
    dest
        Folder to write into (created if needed).
    preset
        ``"tiny"``, ``"demo"`` or ``"benchmark"``.
    seed
        Everything is a deterministic function of the seed and the config.
    mice
        Number of mice: different neurons and behaviour, the same kind of videos.
    competition
        Hash trial ids and zero the responses of the four test tiers.
    as_zip
        Write each recording as a zip.
    track
        Competition track: ``"behavior"``, or ``"stimulus_only"`` which also zeroes the
        held-out trials' behaviour and pupil centre.
    overwrite
        Replace existing recordings of the same name.
    reuse
        Return a recording already in ``dest`` instead of simulating it again when it was
        made with the same config, preset, seed, mouse, competition mode and track (its
        ``simulation.json`` says so); a different one of the same name is an error unless
        ``overwrite``.
    **overrides
        Fields of :class:`~neurotwin.simulate.config.VideoConfig` or
        :class:`~neurotwin.simulate.config.NeuronConfig`.

    Returns
    -------
    list of SimulatedRecording
        One per mouse.
    """
    r.check_common(mice, track, seed)
    config = make_config("video", preset, **overrides)
    assert isinstance(config, VideoConfig)
    return [
        _write_video(
            Path(dest), config, preset, seed, m, competition, as_zip, track, overwrite, reuse
        )
        for m in range(mice)
    ]


def _write_video(
    dest: Path,
    config: VideoConfig,
    preset: str,
    seed: int,
    mouse: int,
    competition: bool,
    as_zip: bool,
    track: str,
    overwrite: bool,
    reuse: bool,
) -> SimulatedRecording:
    name = recording_name("video", seed, mouse, competition, track)
    if reuse and not overwrite:
        found = r.existing(dest, name, as_zip, config, preset, seed, mouse, competition, track)
        if found is not None:
            return found
    started = time.perf_counter()
    sim = VideoMouse(config, seed, mouse)
    plan = sim.plan
    tiers, n, pad = plan["tiers"], sim.n_trials, config.max_frames
    held = np.isin(tiers, HELD_OUT["video"]) if competition else np.zeros(n, bool)
    truth = TruthWriter(truth_path(dest, name), overwrite=overwrite)
    writer = RecordingWriter(
        dest, name, "video", tiers=tiers, as_zip=as_zip, pad_frames=pad, overwrite=overwrite
    )
    try:
        rates = truth.open_array("rates", (n, config.neurons, pad))
        responses = truth.open_array("responses", (n, config.neurons, pad))
        behavior_all = truth.open_array("behavior", (n, 2, pad))
        pupil_all = truth.open_array("pupil_center", (n, 2, pad))
        behavior_z = truth.open_array("behavior_z", (n, 2, pad))
        for start in range(0, n, config.chunk):
            for trial in range(start, min(start + config.chunk, n)):
                video, rate, response, behavior, pupil_center, z = sim.trial(trial)
                t = video.shape[-1]
                rates[trial, :, :t] = rate
                responses[trial, :, :t] = response
                behavior_all[trial, :, :t] = behavior
                pupil_all[trial, :, :t] = pupil_center
                behavior_z[trial, :, :t] = z
                public = np.zeros_like(response) if held[trial] else response
                if competition and track == "stimulus_only" and held[trial]:
                    behavior = np.zeros_like(behavior)
                    pupil_center = np.zeros_like(pupil_center)
                writer.write_trial(
                    trial, videos=video, responses=public, behavior=behavior,
                    pupil_center=pupil_center,
                )  # fmt: skip
        animal, session, scan = r.key_numbers(name)
        unit_ids = np.arange(1, config.neurons + 1)
        writer.write_neurons(
            unit_ids, **r.neuron_meta(sim.population.coordinates, animal, session, scan)
        )
        trial_ids = r.public_ids(seed, mouse, plan["trial_idx"], competition)
        info_arrays = {"trial_idx": trial_ids, "stimulus_id": plan["stimulus_id"]}
        if np.any(np.char.find(tiers.astype(str), "bonus") >= 0):
            info_arrays["ood_class"] = plan["ood_class"]
        writer.write_trial_info(**info_arrays)
        ceilings = r.tier_ceilings(tiers, rates, responses)
        truth.save("tiers", tiers)
        truth.save("trial_idx", trial_ids)
        truth.save("unit_ids", unit_ids)
        truth.save("stimulus_id", plan["stimulus_id"])
        truth.save("ood_class", plan["ood_class"])
        truth.save("lengths", plan["lengths"])
        truth.save_npz("neurons", {**sim.population.as_arrays(), "unit_ids": unit_ids})
        info = r.simulation_json(
            config, preset, seed, mouse, name, competition, track, ceilings,
            {"seconds": round(time.perf_counter() - started, 3),
             "image_sources": list(r.image_sources(seed))},
        )  # fmt: skip
        truth.save_json("simulation", info)
        path = writer.close()
    except BaseException:
        writer.abort()
        truth.abort()
        raise
    return SimulatedRecording(path=path, truth=truth.close(), ceilings=ceilings)
