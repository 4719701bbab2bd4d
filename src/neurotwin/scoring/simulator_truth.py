"""The simulator's ground-truth folder of a recording (``{name}.truth/``), read.

The simulator (:mod:`neurotwin.simulate.truth`) writes, beside each recording, the noiseless
rates, the full noisy responses (withheld ones included), the neurons' parameters and the
simulation's configuration. Scoring, the demo and the report read it only through here.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin.data.recording import Recording
from neurotwin.problems import Problem
from neurotwin.scoring.errors import ProblemList, TruthError

#: Suffix of the simulator's ground-truth folder beside a recording (``{name}.truth/``).
TRUTH_SUFFIX = ".truth"


@dataclass
class SimulatorTruth:
    """The simulator's withheld ground truth of one recording (``{name}.truth/``).

    Attributes
    ----------
    path
        The folder.
    rates
        Noiseless expected responses, raw units, rows in file-index order.
    responses
        Full noisy responses (withheld ones included), same shape.
    rates_stimulus_only
        Static recordings: the noiseless rates with behaviour and eye position at their
        means (``rates_stimulus_only.npy``); None for video and for folders written before
        the simulator kept them.
    """

    path: Path
    rates: np.ndarray
    responses: np.ndarray
    rates_stimulus_only: np.ndarray | None = None

    @classmethod
    def open(cls, path: str | os.PathLike[str], recording: Recording) -> SimulatorTruth:
        """Open a simulator truth folder and check it matches ``recording``.

        Parameters
        ----------
        path
            The ``{recording_name}.truth/`` folder.
        recording
            The recording it belongs to.

        Returns
        -------
        SimulatorTruth
            Its arrays, memory-mapped.

        Raises
        ------
        TruthError
            When a file is missing or disagrees with the recording.
        """
        path = Path(path)
        problems = ProblemList()
        arrays: dict[str, np.ndarray] = {}
        for name in ("rates", "responses", "trial_idx", "unit_ids"):
            f = path / f"{name}.npy"
            if not f.is_file():
                problems.add(str(f), "file is missing")
                continue
            arrays[name] = np.load(f, mmap_mode="r", allow_pickle=False)
        problems.raise_if_any(TruthError)
        n, nn = recording.n_trials, recording.n_neurons
        for name in ("rates", "responses"):
            if arrays[name].shape[:2] != (n, nn):
                problems.add(
                    str(path / f"{name}.npy"),
                    f"has shape {arrays[name].shape}, expected ({n}, {nn}, ...) like "
                    f"{recording.name}",
                )
        if not np.array_equal(
            np.asarray(arrays["trial_idx"]).astype(str), recording.trial_ids.astype(str)
        ):
            problems.add(
                str(path / "trial_idx.npy"), f"differs from {recording.name}'s meta/trials"
            )
        if not np.array_equal(np.asarray(arrays["unit_ids"]), recording.unit_ids):
            problems.add(str(path / "unit_ids.npy"), f"differs from {recording.name}'s unit_ids")
        optional = path / "rates_stimulus_only.npy"
        stimulus_only = None
        if optional.is_file():
            stimulus_only = np.load(optional, mmap_mode="r", allow_pickle=False)
            if stimulus_only.shape != arrays["rates"].shape:
                problems.add(
                    str(optional),
                    f"has shape {stimulus_only.shape}, expected {arrays['rates'].shape}",
                )
        problems.raise_if_any(TruthError)
        return cls(path, arrays["rates"], arrays["responses"], stimulus_only)


def simulator_truth_path(recording: Recording) -> Path | None:
    """Return the simulator's ``{name}.truth/`` folder beside a recording folder, if any."""
    location = Path(recording.location)
    candidate = location.parent / f"{recording.name}{TRUTH_SUFFIX}"
    return candidate if candidate.is_dir() else None


def recording_of_truth_folder(folder: Path) -> Path:
    """Return the recording a simulator's ``{name}.truth/`` folder belongs to (beside it).

    Raises
    ------
    TruthError
        When the recording is not beside the folder.
    """
    name = folder.name[: -len(TRUTH_SUFFIX)]
    for candidate in (folder.parent / name, folder.parent / f"{name}.zip"):
        if candidate.exists():
            return candidate
    raise TruthError(
        [
            Problem(
                str(folder),
                f"is the simulator's ground truth of recording {name}, which is not beside "
                "it; give the recording (its .truth folder is found beside it) or a "
                "make-truth file",
            )
        ]
    )


def true_receptive_fields(folder: Path, unit_ids: np.ndarray) -> np.ndarray | None:
    """Return each unit's true receptive-field centre, or None when the folder has none.

    Parameters
    ----------
    folder
        The ``{name}.truth/`` folder.
    unit_ids
        ``(n,)`` the units wanted, in the order wanted.

    Returns
    -------
    numpy.ndarray or None
        ``(n, 2)`` centres in the simulator's model-image pixels (``neurons.npz``
        ``centre``), or None when ``neurons.npz`` is absent.
    """
    if not (folder / "neurons.npz").is_file():
        return None
    with np.load(folder / "neurons.npz") as neurons:
        where = {int(u): i for i, u in enumerate(neurons["unit_ids"])}
        return np.asarray(neurons["centre"][[where[int(u)] for u in unit_ids]])


def simulation_config(folder: Path) -> dict[str, Any]:
    """Return the simulator's configuration recorded in ``simulation.json``."""
    return dict(json.loads((folder / "simulation.json").read_text())["config"])
