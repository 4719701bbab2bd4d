"""Write simulated recordings (and their ground truth) in the SENSORIUM layout.

:func:`simulate_static` and :func:`simulate_video` build one simulated mouse per ``mice``,
generate its trials chunk by chunk, write them through
:class:`neurotwin.data.RecordingWriter` and write the ground truth beside the recording
(see :mod:`neurotwin.simulate.truth`). Competition mode hashes the trial ids, zeroes the
held-out responses (and, for the stimulus-only track, the held-out behaviour and eye
position); the truth folder keeps everything for the scorer.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin.data import RecordingWriter
from neurotwin.errors import NeurotwinError
from neurotwin.simulate.ceiling import ceiling_from_arrays
from neurotwin.simulate.config import (
    TRACKS,
    StaticConfig,
    VideoConfig,
    config_to_dict,
    make_config,
)
from neurotwin.simulate.static_mouse import StaticMouse
from neurotwin.simulate.truth import TruthWriter, load_simulation, truth_path
from neurotwin.simulate.video_mouse import VideoMouse

#: Tiers whose responses a competition release withholds.
HELD_OUT = {
    "static": ("test", "final_test"),
    "video": ("live_test_main", "live_test_bonus", "final_test_main", "final_test_bonus"),
}


@dataclass(frozen=True)
class SimulatedRecording:
    """A simulated recording on disk and its ground truth.

    Attributes
    ----------
    path
        The recording (folder or zip).
    truth
        The ``*.truth`` folder beside it.
    ceilings
        Mean exact single-trial ceiling of every tier.
    reused
        True when an identical simulation already on disk was returned (``reuse=True``).
    """

    path: Path
    truth: Path
    ceilings: dict[str, float]
    reused: bool = False


def recording_name(kind: str, seed: int, mouse: int, competition: bool, track: str) -> str:
    """Return the deterministic folder name of a simulated recording.

    Parameters
    ----------
    kind
        ``"static"`` or ``"video"``.
    seed
        The simulation seed.
    mouse
        Mouse index.
    competition
        Whether it is a competition release.
    track
        The competition track.

    Returns
    -------
    str
        ``static{animal}-{session}-{scan}-GrayImageNet-{hex}`` or
        ``dynamic{animal}-{session}-{scan}-Video-{hex}``.
    """
    base = int(hashlib.md5(f"neurotwin-sim-{seed}".encode()).hexdigest()[:8], 16)
    animal = 20000 + base % 9000 + mouse
    session = 1 + (base // 9000) % 20
    scan = 1 + mouse % 20
    digest = hashlib.md5(f"{kind}-{seed}-{mouse}-{competition}-{track}".encode()).hexdigest()
    if kind == "static":
        return f"static{animal}-{session}-{scan}-GrayImageNet-{digest}"
    return f"dynamic{animal}-{session}-{scan}-Video-{digest}"


def hashed_trial_ids(seed: int, mouse: int, trial_idx: np.ndarray) -> np.ndarray:
    """Replace presentation indices by opaque 32-hex-character ids, as competitions do.

    Parameters
    ----------
    seed
        The simulation seed.
    mouse
        Mouse index.
    trial_idx
        Integer presentation order.

    Returns
    -------
    numpy.ndarray
        Unicode strings of 32 hex characters.
    """
    return np.array(
        [hashlib.md5(f"{seed}:{mouse}:{int(t)}".encode()).hexdigest() for t in trial_idx]
    )


def _check_common(mice: int, track: str, seed: int) -> None:
    if not isinstance(mice, int) or mice < 1:
        raise NeurotwinError(f"mice must be a positive integer, got {mice!r}")
    if track not in TRACKS:
        raise NeurotwinError(f"track must be one of {', '.join(TRACKS)}; got {track!r}")
    if not isinstance(seed, int) or seed < 0:
        raise NeurotwinError(f"seed must be a non-negative integer, got {seed!r}")


def _neuron_meta(
    coordinates: np.ndarray, animal: int, session: int, scan: int
) -> dict[str, np.ndarray]:
    n = len(coordinates)
    return {
        "cell_motor_coordinates": coordinates.astype(np.float32),
        "area": np.repeat("V1", n),
        "layer": np.repeat("L2/3", n),
        "animal_ids": np.full(n, animal),
        "sessions": np.full(n, session),
        "scan_idx": np.full(n, scan),
    }


def _key_numbers(name: str) -> tuple[int, int, int]:
    head = name.split("-")
    animal = int(head[0].removeprefix("static").removeprefix("dynamic"))
    return animal, int(head[1]), int(head[2])


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
    _check_common(mice, track, seed)
    config = make_config("static", preset, **overrides)
    assert isinstance(config, StaticConfig)
    return [
        _write_static(
            Path(dest), config, preset, seed, m, competition, as_zip, track, overwrite, reuse
        )
        for m in range(mice)
    ]


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
    _check_common(mice, track, seed)
    config = make_config("video", preset, **overrides)
    assert isinstance(config, VideoConfig)
    return [
        _write_video(
            Path(dest), config, preset, seed, m, competition, as_zip, track, overwrite, reuse
        )
        for m in range(mice)
    ]


def _public_ids(seed: int, mouse: int, trial_idx: np.ndarray, competition: bool) -> np.ndarray:
    return hashed_trial_ids(seed, mouse, trial_idx) if competition else trial_idx


def _simulation_json(
    config: StaticConfig | VideoConfig,
    preset: str,
    seed: int,
    mouse: int,
    name: str,
    competition: bool,
    track: str,
    ceilings: dict[str, float],
    extra: dict[str, Any],
) -> dict[str, Any]:
    return {
        "recording": name,
        "kind": "static" if isinstance(config, StaticConfig) else "video",
        "preset": preset,
        "seed": seed,
        "mouse": mouse,
        "competition": competition,
        "track": track,
        "noise_level": config.cells.noise_level,
        "ceiling_mean": ceilings,
        "config": config_to_dict(config),
        **extra,
    }


#: Ceilings written to ``simulation.json`` use at most this many values per array (a large
#: train tier is subsampled to its first trials to bound memory); :func:`exact_ceiling`
#: computes any tier in full.
CEILING_VALUES = 25_000_000


def _tier_ceilings(tiers: np.ndarray, rates: np.ndarray, responses: np.ndarray) -> dict[str, float]:
    out = {}
    per_trial = int(np.prod(rates.shape[1:]))
    for tier in dict.fromkeys(tiers.tolist()):
        index = np.flatnonzero(tiers == tier)[: max(2, CEILING_VALUES // per_trial)]
        out[str(tier)] = float(ceiling_from_arrays(rates[index], responses[index]).mean())
    return out


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
        found = _existing(dest, name, as_zip, config, preset, seed, mouse, competition, track)
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
        animal, session, scan = _key_numbers(name)
        unit_ids = np.arange(1, config.neurons + 1)
        writer.write_neurons(
            unit_ids, **_neuron_meta(sim.population.coordinates, animal, session, scan)
        )
        trial_ids = _public_ids(seed, mouse, sim.plan["trial_idx"], competition)
        writer.write_trial_info(trial_idx=trial_ids, frame_image_id=sim.plan["image_ids"])
        ceilings = _tier_ceilings(tiers, rates, responses)
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
        info = _simulation_json(
            config, preset, seed, mouse, name, competition, track, ceilings,
            {"seconds": round(time.perf_counter() - started, 3),
             "image_sources": list(_image_sources(seed))},
        )  # fmt: skip
        truth.save_json("simulation", info)
        path = writer.close()
    except BaseException:
        writer.abort()
        truth.abort()
        raise
    return SimulatedRecording(path=path, truth=truth.close(), ceilings=ceilings)


def _existing(
    dest: Path,
    name: str,
    as_zip: bool,
    config: StaticConfig | VideoConfig,
    preset: str,
    seed: int,
    mouse: int,
    competition: bool,
    track: str,
) -> SimulatedRecording | None:
    """Return the simulation of ``name`` in ``dest`` if it was made exactly as asked.

    None when there is none; an error when there is one made differently.
    """
    path = dest / (f"{name}.zip" if as_zip else name)
    truth = truth_path(dest, name)
    if not path.exists() or not (truth / "simulation.json").is_file():
        return None
    info = load_simulation(truth)
    wanted = _simulation_json(config, preset, seed, mouse, name, competition, track, {}, {})
    keys = ("kind", "preset", "seed", "mouse", "competition", "track", "config")
    differ = [k for k in keys if info.get(k) != json.loads(json.dumps(wanted[k]))]
    if differ:
        raise NeurotwinError(
            f"{path} was simulated with another {', '.join(differ)} than asked "
            f"({truth / 'simulation.json'}); pass overwrite=True to replace it, "
            "or simulate into another folder"
        )
    return SimulatedRecording(path=path, truth=truth, ceilings=info["ceiling_mean"], reused=True)


def _image_sources(seed: int) -> tuple[str, ...]:
    from neurotwin.simulate.stimuli import source_images

    return source_images(seed)[1]


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
        found = _existing(dest, name, as_zip, config, preset, seed, mouse, competition, track)
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
        animal, session, scan = _key_numbers(name)
        unit_ids = np.arange(1, config.neurons + 1)
        writer.write_neurons(
            unit_ids, **_neuron_meta(sim.population.coordinates, animal, session, scan)
        )
        trial_ids = _public_ids(seed, mouse, plan["trial_idx"], competition)
        info_arrays = {"trial_idx": trial_ids, "stimulus_id": plan["stimulus_id"]}
        if np.any(np.char.find(tiers.astype(str), "bonus") >= 0):
            info_arrays["ood_class"] = plan["ood_class"]
        writer.write_trial_info(**info_arrays)
        ceilings = _tier_ceilings(tiers, rates, responses)
        truth.save("tiers", tiers)
        truth.save("trial_idx", trial_ids)
        truth.save("unit_ids", unit_ids)
        truth.save("stimulus_id", plan["stimulus_id"])
        truth.save("ood_class", plan["ood_class"])
        truth.save("lengths", plan["lengths"])
        truth.save_npz("neurons", {**sim.population.as_arrays(), "unit_ids": unit_ids})
        info = _simulation_json(
            config, preset, seed, mouse, name, competition, track, ceilings,
            {"seconds": round(time.perf_counter() - started, 3),
             "image_sources": list(_image_sources(seed))},
        )  # fmt: skip
        truth.save_json("simulation", info)
        path = writer.close()
    except BaseException:
        writer.abort()
        truth.abort()
        raise
    return SimulatedRecording(path=path, truth=truth.close(), ceilings=ceilings)
