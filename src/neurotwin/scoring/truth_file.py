"""The ground-truth file (``.npz``, format ``neurotwin-truth`` version 1): written and read.

See :mod:`neurotwin.scoring.truth` for what it holds. Files are written atomically and
validated on read.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin import atomic
from neurotwin.scoring.errors import ProblemList, TruthError
from neurotwin.scoring.formats import FORMATS
from neurotwin.scoring.truth import (
    MouseTruth,
    TierTruth,
    Truth,
    _check_finite_truth,
    _problem,
)

FORMAT = "neurotwin-truth"
FORMAT_VERSION = 1


def save_truth(truth: Truth, path: str | os.PathLike[str]) -> Path:
    """Write a ground-truth file atomically.

    Parameters
    ----------
    truth
        The ground truth.
    path
        Destination (``.npz`` is conventional).

    Returns
    -------
    pathlib.Path
        The file written.
    """
    path = Path(path)
    header = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "track": truth.track,
        "track_version": truth.track_version,
        "kind": truth.kind,
        "normalisation": truth.normalisation,
        "mice": [{"name": m.name, "tiers": list(m.tiers)} for m in truth.mice],
        "notes": list(truth.notes),
    }
    arrays: dict[str, np.ndarray] = {"header": np.array(json.dumps(header))}
    for k, mouse in enumerate(truth.mice):
        arrays[f"m{k}.unit_ids"] = np.asarray(mouse.unit_ids, dtype=np.int64)
        for tier, t in mouse.tiers.items():
            pre = f"m{k}.{tier}."
            arrays[pre + "trial_ids"] = np.asarray(t.trial_ids).astype(str)
            arrays[pre + "stimulus_ids"] = np.asarray(t.stimulus_ids).astype(str)
            arrays[pre + "responses"] = np.asarray(t.responses, dtype=np.float32)
            for name in ("n_frames", "lengths"):
                value = getattr(t, name)
                if value is not None:
                    arrays[pre + name] = np.asarray(value, dtype=np.int64)
            if t.rates is not None:
                arrays[pre + "rates"] = np.asarray(t.rates, dtype=np.float32)
            if t.ood_class is not None:
                arrays[pre + "ood_class"] = np.asarray(t.ood_class).astype(str)
            if t.file_indices is not None:
                arrays[pre + "file_indices"] = np.asarray(t.file_indices, dtype=np.int64)
            if t.rates_stimulus_only is not None:
                arrays[pre + "rates_stimulus_only"] = np.asarray(
                    t.rates_stimulus_only, dtype=np.float32
                )

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a handle: np.savez would append .npz to a name
            np.savez(f, allow_pickle=False, **arrays)

    return atomic.atomic_write(path, save)


def load_truth(path: str | os.PathLike[str]) -> Truth:
    """Read and validate a ground-truth file written by :func:`save_truth`.

    Parameters
    ----------
    path
        The ``.npz`` file.

    Returns
    -------
    Truth
        The ground truth.

    Raises
    ------
    TruthError
        Listing every problem: not a truth file, an unknown version, missing arrays or
        arrays whose shapes disagree.
    """
    where = str(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise TruthError(_problem(where, f"is not a ground-truth file ({exc})")) from exc
    if "header" not in arrays:
        raise TruthError(_problem(where, f"has no header: not a {FORMAT} file"))
    try:
        header = json.loads(str(arrays["header"]))
    except json.JSONDecodeError as exc:
        raise TruthError(_problem(where, f"header is not JSON ({exc})")) from exc
    if header.get("format") != FORMAT:
        raise TruthError(_problem(where, f"format is {header.get('format')!r}, not {FORMAT!r}"))
    if header.get("version") != FORMAT_VERSION:
        raise TruthError(
            _problem(
                where,
                f"format version {header.get('version')!r} is not supported "
                f"(this neurotwin reads version {FORMAT_VERSION})",
            )
        )
    problems = ProblemList()
    mice = []
    for k, entry in enumerate(header.get("mice", [])):
        unit_ids = arrays.get(f"m{k}.unit_ids")
        if unit_ids is None:
            problems.add(f"{where}!m{k}.unit_ids", "is missing")
            continue
        mouse = MouseTruth(str(entry["name"]), unit_ids.astype(np.int64))
        for tier in entry.get("tiers", []):
            pre = f"m{k}.{tier}."
            got = {
                name: arrays.get(pre + name)
                for name in (
                    "trial_ids",
                    "stimulus_ids",
                    "responses",
                    "n_frames",
                    "lengths",
                    "rates",
                    "ood_class",
                    "file_indices",
                    "rates_stimulus_only",
                )
            }
            t = _tier_from_arrays(got, header["kind"], len(unit_ids), f"{where}!{pre}", problems)
            if t is not None:
                mouse.tiers[tier] = t
        mice.append(mouse)
    if not mice:
        problems.add(where, "holds no mouse")
    problems.raise_if_any(TruthError)
    return Truth(
        track=str(header["track"]),
        track_version=str(header["track_version"]),
        kind=str(header["kind"]),
        mice=mice,
        normalisation=str(header.get("normalisation", "per_neuron")),
        notes=[str(n) for n in header.get("notes", [])],
    )


def _tier_from_arrays(
    got: dict[str, Any], kind: str, n_neurons: int, where: str, problems: ProblemList
) -> TierTruth | None:
    """Check one tier's arrays and build it, or record what is wrong."""
    for name in ("trial_ids", "stimulus_ids", "responses"):
        if got[name] is None:
            problems.add(where + name, "is missing")
    frames = kind in FORMATS and FORMATS[kind].has_frames
    if frames and (got["n_frames"] is None or got["lengths"] is None):
        problems.add(where + "n_frames", "video ground truth needs n_frames and lengths")
        return None
    if any(got[n] is None for n in ("trial_ids", "stimulus_ids", "responses")):
        return None
    n = len(got["trial_ids"])
    resp = got["responses"]
    expected_ndim = 3 if frames else 2
    if resp.ndim != expected_ndim or resp.shape[:2] != (n, n_neurons):
        problems.add(
            where + "responses",
            f"has shape {resp.shape}, expected ({n}, {n_neurons}"
            + (", frames)" if frames else ")"),
        )
        return None
    for name in ("stimulus_ids", "n_frames", "lengths", "ood_class", "file_indices"):
        if got[name] is not None and len(got[name]) != n:
            problems.add(where + name, f"has {len(got[name])} rows, expected {n}")
    for name in ("rates", "rates_stimulus_only"):
        if got[name] is not None and got[name].shape != resp.shape:
            problems.add(where + name, f"has shape {got[name].shape}, expected {resp.shape}")
    if not problems.items:
        _check_finite_truth(resp, got["n_frames"], where + "responses", problems)
    if len(np.unique(got["trial_ids"])) != n:
        problems.add(where + "trial_ids", "are not unique")
    return TierTruth(
        trial_ids=got["trial_ids"].astype(str),
        stimulus_ids=got["stimulus_ids"].astype(str),
        responses=resp,
        n_frames=got["n_frames"],
        lengths=got["lengths"],
        rates=got["rates"],
        ood_class=None if got["ood_class"] is None else got["ood_class"].astype(str),
        file_indices=got["file_indices"],
        rates_stimulus_only=got["rates_stimulus_only"],
    )
