"""Pretrained weights shipped with the package, and one resolver for every way to name a model.

Each pretrained model is two files in ``neurotwin/models/weights/``: ``{name}.pt`` (the
:func:`~neurotwin.models.save_model` format) and ``{name}.json``, the record of how it was
made (model, simulator preset and seed of the demo mouse, training recipe, epochs, seconds)
and what it scored on that mouse's test tiers. ``tests/models/test_pretrained.py``
regenerates the mouse and checks the weights still load and score what they scored;
``benchmarks/pretrain.py`` remakes them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from neurotwin.errors import NeurotwinError
from neurotwin.models.base import TwinModule
from neurotwin.models.checkpoint import load_model

#: Where the shipped weights live.
WEIGHTS_DIR = Path(__file__).with_name("weights")


def list_pretrained() -> list[str]:
    """Return the names of the pretrained models shipped with this package."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.json") if p.with_suffix(".pt").is_file())


def pretrained_record(name: str) -> dict[str, Any]:
    """Return how a pretrained model was made and what it scored.

    Parameters
    ----------
    name
        A name from :func:`list_pretrained`.

    Returns
    -------
    dict
        The JSON record (``model``, ``data``, ``train``, ``scores``...).
    """
    _check_name(name)
    record: dict[str, Any] = json.loads((WEIGHTS_DIR / f"{name}.json").read_text())
    return record


def load_pretrained(name: str, map_location: str = "cpu") -> TwinModule:
    """Load a pretrained model by name.

    Parameters
    ----------
    name
        A name from :func:`list_pretrained` (``"sensorium+"``...).
    map_location
        Device for the weights.

    Returns
    -------
    TwinModule
        The model, in eval mode.
    """
    _check_name(name)
    return load_model(WEIGHTS_DIR / f"{name}.pt", map_location=map_location)


def _check_name(name: str) -> None:
    names = list_pretrained()
    if name not in names:
        raise NeurotwinError(
            f"no pretrained model named {name!r}; pretrained models: {', '.join(names) or 'none'}"
        )


def resolve_model(spec: str | os.PathLike[str], map_location: str = "cpu") -> TwinModule:
    """Load a model named any way a user may name it.

    Parameters
    ----------
    spec
        A saved model file (``model.pt``), a run or ensemble folder holding ``model.pt``, or
        the name of a pretrained model.
    map_location
        Device for the weights.

    Returns
    -------
    TwinModule
        The model, in eval mode.

    Raises
    ------
    NeurotwinError
        When ``spec`` is none of these (the message lists the pretrained names).
    """
    path = Path(spec)
    if path.is_dir():
        if not (path / "model.pt").is_file():
            raise NeurotwinError(
                f"{path} holds no model.pt (a run folder gets it when training ends; "
                "an interrupted run resumes with `neurotwin train` and the same --out)"
            )
        return load_model(path / "model.pt", map_location=map_location)
    if path.is_file():
        return load_model(path, map_location=map_location)
    if str(spec) in list_pretrained():
        return load_pretrained(str(spec), map_location=map_location)
    raise NeurotwinError(
        f"{spec!s} is neither a model file, a run folder nor a pretrained model "
        f"({', '.join(list_pretrained()) or 'none shipped'})"
    )
