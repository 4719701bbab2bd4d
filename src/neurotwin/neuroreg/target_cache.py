"""Similarity targets on disk, with their provenance (which models, which stimuli).

A target is cached (:func:`cached_target`) with the hashes of the model files and of the
stimulus array; a cached target made from other models, stimuli or source than the ones
asked for is refused.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin.atomic import atomic_write
from neurotwin.neuroreg.errors import NeuroregError


@dataclass
class SimilarityTarget:
    """A similarity matrix and where it came from.

    Attributes
    ----------
    matrix
        ``(N, N)`` float64 similarities of the stimulus images, in stimulus order.
    provenance
        ``source`` (how it was made), ``stimuli`` (:func:`stimulus_hash`), ``models``
        (``{label: sha256 of the file}``) and free-form details.
    """

    matrix: np.ndarray
    provenance: dict[str, Any] = field(default_factory=dict)


def model_file_hash(spec: str | os.PathLike[str]) -> str:
    """SHA-256 of the file a model spec names (a file, a run folder or a pretrained name).

    Parameters
    ----------
    spec
        As accepted by :func:`neurotwin.models.resolve_model`.

    Returns
    -------
    str
        Hex digest of the weights file.
    """
    from neurotwin.data.cache import file_checksum
    from neurotwin.models.pretrained import WEIGHTS_DIR, list_pretrained

    path = Path(spec)
    if path.is_dir():
        path = path / "model.pt"
    elif not path.is_file() and str(spec) in list_pretrained():
        path = WEIGHTS_DIR / f"{spec}.pt"
    if not path.is_file():
        raise NeuroregError(f"{spec}: no model file to hash")
    return file_checksum(path)


def save_target(path: str | os.PathLike[str], target: SimilarityTarget) -> Path:
    """Write a target atomically (a temporary file renamed into place).

    Parameters
    ----------
    path
        The ``.npz`` file to write.
    target
        The target.

    Returns
    -------
    pathlib.Path
        The written file.
    """

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez(
                handle,
                matrix=target.matrix.astype(np.float64),
                provenance=np.array(json.dumps(target.provenance, sort_keys=True)),
            )

    return atomic_write(path, write)


def load_target(path: str | os.PathLike[str]) -> SimilarityTarget:
    """Read a target written by :func:`save_target`.

    Raises
    ------
    NeuroregError
        When the file is not such a target.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            matrix = np.asarray(data["matrix"], dtype=np.float64)
            provenance = json.loads(str(data["provenance"]))
    except (OSError, ValueError, KeyError) as exc:
        raise NeuroregError(f"{path}: not a similarity target file ({exc})") from exc
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise NeuroregError(f"{path}: the similarity matrix has shape {matrix.shape}")
    return SimilarityTarget(matrix, provenance)


#: Provenance fields that must agree for a cached target to be reused.
MATCHED = ("source", "stimuli", "models")


def cached_target(
    path: str | os.PathLike[str],
    provenance: Mapping[str, Any],
    build: Callable[[], np.ndarray],
) -> SimilarityTarget:
    """Return the target cached at ``path``, or build, cache and return it.

    Parameters
    ----------
    path
        The cache file (``.npz``).
    provenance
        What the target must have been made from: at least ``source``, ``stimuli`` (the
        hash of the stimulus array) and ``models`` (``{label: file hash}``, empty for
        targets without a model).
    build
        Makes the matrix when the cache is absent.

    Returns
    -------
    SimilarityTarget
        The cached or newly built target.

    Raises
    ------
    NeuroregError
        When the cached target was made from other stimuli, models or source than asked.
    """
    wanted = dict(provenance)
    missing = [k for k in MATCHED if k not in wanted]
    if missing:
        raise NeuroregError(f"target provenance lacks {', '.join(missing)}")
    path = Path(path)
    if path.exists():
        cached = load_target(path)
        for name in MATCHED:
            have, want = cached.provenance.get(name), wanted[name]
            if have != want:
                raise NeuroregError(
                    f"{path}: the cached target was made from other {name} than asked "
                    f"(cached {_short(have)}, asked {_short(want)}); delete the file or "
                    "choose another target path"
                )
        return cached
    target = SimilarityTarget(build(), wanted)
    save_target(path, target)
    return target


def _short(value: Any) -> str:
    if isinstance(value, str) and len(value) == 64:
        return value[:12]
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in sorted(value.items())) + "}"
    return repr(value)
