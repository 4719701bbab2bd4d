"""Simulate static (SENSORIUM 2022) recordings: images, trial by trial in chunks."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin.data import RecordingWriter
from neurotwin.simulate import release as r
from neurotwin.simulate.config import StaticConfig, make_config
from neurotwin.simulate.release import HELD_OUT, SimulatedRecording, recording_name
from neurotwin.simulate.static_mouse import StaticMouse
from neurotwin.simulate.truth import TruthWriter, truth_path


def simulate_static(
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
    """Simulate static (SENSORIUM 2022) recordings, one per mouse, with their ground truth.

    Parameters
    ----------
    dest
        Folder to write into (created if needed).
    preset
        ``"tiny"``, ``"demo"`` or ``"benchmark"``.
    seed
        Everything is a deterministic function of the seed and the config.
    mice
        Number of mice: different neurons and behaviour, the same kind of images.
    competition
        Hash trial ids and zero the responses of ``test`` and ``final_test``.
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
        Fields of :class:`~neurotwin.simulate.config.StaticConfig` or
        :class:`~neurotwin.simulate.config.NeuronConfig`.

    Returns
    -------
    list of SimulatedRecording
        One per mouse.
    """
    r.check_common(mice, track, seed)
    config = make_config("static", preset, **overrides)
    assert isinstance(config, StaticConfig)
    return [
        _write_static(
            Path(dest), config, preset, seed, m, competition, as_zip, track, overwrite, reuse
        )
        for m in range(mice)
    ]


def _write_static(
    dest: Path,
    config: StaticConfig,
    preset: str,
    seed: int,
    mouse: int,
    competition: bool,
    as_zip: bool,
    track: str,
    overwrite: bool,
    reuse: bool,
) -> SimulatedRecording:
    name = recording_name("static", seed, mouse, competition, track)
    if reuse and not overwrite:
        found = r.existing(dest, name, as_zip, config, preset, seed, mouse, competition, track)
        if found is not None:
            return found
    started = time.perf_counter()
    sim = StaticMouse(config, seed, mouse)
    tiers, n = sim.plan["tiers"], sim.n_trials
    held = np.isin(tiers, HELD_OUT["static"]) if competition else np.zeros(n, bool)
    truth = TruthWriter(truth_path(dest, name), overwrite=overwrite)
    writer = RecordingWriter(dest, name, "static", tiers=tiers, as_zip=as_zip, overwrite=overwrite)
    try:
        rates = truth.open_array("rates", (n, config.neurons))
        responses = truth.open_array("responses", (n, config.neurons))
        # the best an images-only model can do: behaviour and eye position at their means
        stimulus_only = truth.open_array("rates_stimulus_only", (n, config.neurons))
        for chunk_id, start in enumerate(range(0, n, config.chunk)):
            trials = np.arange(start, min(start + config.chunk, n))
            images = sim.images(sim.plan["image_ids"][trials])
            rate = sim.rates(images, trials)
            response = sim.responses(rate, trials, chunk_id)
            rates[trials] = rate
            stimulus_only[trials] = sim.rates(
                images, trials, use_behavior=False, use_eye_position=False
            )
            responses[trials] = response
            behavior, pupil_center = sim.behavior_arrays(trials)
            public = np.where(held[trials, None], np.float32(0), response)
            if competition and track == "stimulus_only":
                behavior = np.where(held[trials, None], np.float32(0), behavior)
                pupil_center = np.where(held[trials, None], np.float32(0), pupil_center)
            writer.write_trials(
                int(start), images=images, responses=public, behavior=behavior,
                pupil_center=pupil_center,
            )  # fmt: skip
        animal, session, scan = r.key_numbers(name)
        unit_ids = np.arange(1, config.neurons + 1)
        writer.write_neurons(
            unit_ids, **r.neuron_meta(sim.population.coordinates, animal, session, scan)
        )
        trial_ids = r.public_ids(seed, mouse, sim.plan["trial_idx"], competition)
        writer.write_trial_info(trial_idx=trial_ids, frame_image_id=sim.plan["image_ids"])
        ceilings = r.tier_ceilings(tiers, rates, responses)
        truth.save("tiers", tiers)
        truth.save("trial_idx", trial_ids)
        truth.save("unit_ids", unit_ids)
        truth.save("frame_image_id", sim.plan["image_ids"])
        behavior_all, pupil_all = sim.behavior_arrays(np.arange(n))
        truth.save("behavior", behavior_all)
        truth.save("pupil_center", pupil_all)
        truth.save("behavior_z", np.column_stack([sim.behavior.running_z, sim.behavior.pupil_z]))
        truth.save("eye_shift", sim.behavior.eye_shift.astype(np.float32))
        truth.save("shared_gain", sim.shared_gain.astype(np.float32))
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
