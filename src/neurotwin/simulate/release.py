"""What the static and video simulations share: names, ids, ceilings, ``simulation.json``.

See :mod:`neurotwin.simulate.recording` for the entry points.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin.errors import NeurotwinError
from neurotwin.simulate.ceiling import ceiling_from_arrays
from neurotwin.simulate.config import (
    RELEASES,
    TRACKS,
    StaticConfig,
    VideoConfig,
    config_to_dict,
    release_of,
)
from neurotwin.simulate.truth import load_simulation, truth_path

#: Tiers whose responses a competition release withholds, by kind.
HELD_OUT = {kind: release.held_out for kind, release in RELEASES.items()}


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
    release = release_of(kind)
    return f"{release.folder_prefix}{animal}-{session}-{scan}-{release.stimulus_tag}-{digest}"


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


def check_common(mice: int, track: str, seed: int) -> None:
    """Refuse a bad mouse count, track or seed (NeurotwinError naming it)."""
    if not isinstance(mice, int) or mice < 1:
        raise NeurotwinError(f"mice must be a positive integer, got {mice!r}")
    if track not in TRACKS:
        raise NeurotwinError(f"track must be one of {', '.join(TRACKS)}; got {track!r}")
    if not isinstance(seed, int) or seed < 0:
        raise NeurotwinError(f"seed must be a non-negative integer, got {seed!r}")


def neuron_meta(
    coordinates: np.ndarray, animal: int, session: int, scan: int
) -> dict[str, np.ndarray]:
    """Return the per-neuron metadata a release holds (coordinates, area, layer, ids)."""
    n = len(coordinates)
    return {
        "cell_motor_coordinates": coordinates.astype(np.float32),
        "area": np.repeat("V1", n),
        "layer": np.repeat("L2/3", n),
        "animal_ids": np.full(n, animal),
        "sessions": np.full(n, session),
        "scan_idx": np.full(n, scan),
    }


def key_numbers(name: str) -> tuple[int, int, int]:
    """Return the animal, session and scan numbers of a recording name."""
    head = name.split("-")
    animal = int(head[0].removeprefix("static").removeprefix("dynamic"))
    return animal, int(head[1]), int(head[2])


def public_ids(seed: int, mouse: int, trial_idx: np.ndarray, competition: bool) -> np.ndarray:
    """Return the trial ids a release shows: hashed in competition mode, else the indices."""
    return hashed_trial_ids(seed, mouse, trial_idx) if competition else trial_idx


def simulation_json(
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
    """Return the content of ``simulation.json``: how the recording was made."""
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


def tier_ceilings(tiers: np.ndarray, rates: np.ndarray, responses: np.ndarray) -> dict[str, float]:
    """Return the mean exact single-trial ceiling of every tier (large tiers subsampled)."""
    out = {}
    per_trial = int(np.prod(rates.shape[1:]))
    for tier in dict.fromkeys(tiers.tolist()):
        index = np.flatnonzero(tiers == tier)[: max(2, CEILING_VALUES // per_trial)]
        out[str(tier)] = float(ceiling_from_arrays(rates[index], responses[index]).mean())
    return out


def existing(
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
    wanted = simulation_json(config, preset, seed, mouse, name, competition, track, {}, {})
    keys = ("kind", "preset", "seed", "mouse", "competition", "track", "config")
    differ = [k for k in keys if info.get(k) != json.loads(json.dumps(wanted[k]))]
    if differ:
        raise NeurotwinError(
            f"{path} was simulated with another {', '.join(differ)} than asked "
            f"({truth / 'simulation.json'}); pass overwrite=True to replace it, "
            "or simulate into another folder"
        )
    return SimulatedRecording(path=path, truth=truth, ceilings=info["ceiling_mean"], reused=True)


def image_sources(seed: int) -> tuple[str, ...]:
    """Return the names of the photographs the seed's images are cut from."""
    from neurotwin.simulate.stimuli import source_images

    return source_images(seed)[1]
