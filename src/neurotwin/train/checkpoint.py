"""Files of a run folder: the resumable checkpoint, the best model, metrics, config."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from neurotwin.atomic import atomic_write
from neurotwin.errors import NeurotwinError

if TYPE_CHECKING:
    from neurotwin.models.contract import TwinModel

CHECKPOINT = "checkpoint.pt"
MODEL = "model.pt"
METRICS = "metrics.jsonl"
CONFIG = "config.json"
#: Format name and version stored in every checkpoint.
CHECKPOINT_FORMAT = "neurotwin-train-checkpoint"
CHECKPOINT_VERSION = 1


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write a checkpoint atomically: an interruption leaves the previous one intact.

    Parameters
    ----------
    path
        ``out/checkpoint.pt``.
    state
        What the trainer needs to resume (tensors, numbers, strings, lists, dicts).
    """
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}
    atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    dict
        Its content, tensors on the CPU.

    Raises
    ------
    NeurotwinError
        When the file is not a neurotwin training checkpoint or is of a newer version.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a damaged or foreign file
        raise NeurotwinError(f"{path}: cannot read the training checkpoint: {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise NeurotwinError(f"{path} is not a neurotwin training checkpoint")
    if state.get("version", 0) > CHECKPOINT_VERSION:
        raise NeurotwinError(
            f"{path} has checkpoint version {state['version']}; this neurotwin reads up to "
            f"{CHECKPOINT_VERSION} (upgrade neurotwin)"
        )
    return state


def save_best(model: TwinModel, path: Path) -> None:
    """Write the trained model (best weights) to ``out/model.pt``.

    This is the one place where the trainer writes a model file.

    Parameters
    ----------
    model
        The model with its best weights.
    path
        The file.

    Raises
    ------
    NeurotwinError
        For a model that is not a :class:`~neurotwin.models.TwinModule` (only those have a
        model file format).
    """
    from neurotwin.models import TwinModule, save_model

    if not isinstance(model, TwinModule):
        raise NeurotwinError(
            f"cannot write {path}: a {type(model).__name__} is not a neurotwin TwinModule, "
            "whose file format model.pt is (train with out=None, or subclass TwinModule)"
        )
    save_model(model, path)


def model_description(model: TwinModel) -> dict[str, Any]:
    """Describe a model by its registry name and config.

    Parameters
    ----------
    model
        A neurotwin model.

    Returns
    -------
    dict
        ``{"name": ..., "config": ...}`` (config None for a model that is not a
        :class:`~neurotwin.models.TwinModule` with a config).
    """
    from neurotwin.models import TwinModule, config_to_dict

    config = model.config if isinstance(model, TwinModule) else None
    described = {"name": model.name, "config": None if config is None else config_to_dict(config)}
    return dict(json.loads(json.dumps(described)))  # tuples as lists, as a checkpoint keeps it


def write_json(path: Path, value: Any) -> None:
    """Write JSON atomically.

    Parameters
    ----------
    path
        The file.
    value
        JSON-able content.
    """
    text = json.dumps(value, indent=2) + "\n"
    atomic_write(path, lambda tmp: tmp.write_text(text))


def write_metrics(path: Path, history: Iterable[dict[str, Any]]) -> None:
    """Rewrite ``metrics.jsonl`` from a history (one JSON line per epoch), atomically.

    Parameters
    ----------
    path
        The file.
    history
        One dict per epoch.
    """
    text = "".join(json.dumps(entry) + "\n" for entry in history)
    atomic_write(path, lambda tmp: tmp.write_text(text))


def append_metrics(path: Path, entry: dict[str, Any]) -> None:
    """Append one epoch's line to ``metrics.jsonl``.

    Parameters
    ----------
    path
        The file.
    entry
        The epoch's metrics.
    """
    with open(path, "a") as handle:
        handle.write(json.dumps(entry) + "\n")
