"""Saving and loading models: one file holds everything needed to rebuild a model.

A model state is a dict (what :func:`model_to_state` returns and the trainer embeds in its
own checkpoints)::

    {"format": "neurotwin-model", "version": 1,
     "name": "sensorium+",                      # registry name
     "config": {...},                           # the config as a JSON-able dict
     "infos": {key: RecordingInfo.to_dict()},   # the recordings the readouts fit, with
                                                # their input normalisation (absent before
                                                # neurotwin saved it: attach_normalization)
     "state_dict": {parameter name: tensor}}

An ensemble is ``{"format", "version", "name": "ensemble", "members": [member states]}``.
Files are written with :func:`torch.save` (atomically: a temporary file renamed into
place) and read with ``torch.load(weights_only=True)``, so loading runs no pickled code.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from neurotwin.atomic import atomic_write
from neurotwin.config import ConfigError, config_from_dict, config_to_dict
from neurotwin.errors import NeurotwinError
from neurotwin.models.base import TwinModule
from neurotwin.models.contract import TwinModel
from neurotwin.models.ensemble import Ensemble
from neurotwin.models.info import RecordingInfo
from neurotwin.models.normalization import InputNormalization
from neurotwin.models.registry import build_model, model_entry

PathLike = str | os.PathLike[str]

#: Value of the ``format`` entry of every saved model.
FORMAT = "neurotwin-model"
#: ``format`` of the trainer's resumable checkpoints (``neurotwin.train.checkpoint``
#: defines it; repeated here so that loading a model does not import the trainer).
TRAINING_CHECKPOINT_FORMAT = "neurotwin-train-checkpoint"
#: Newest format version this code writes and reads.
VERSION = 1


def model_to_state(model: TwinModule) -> dict[str, Any]:
    """Return everything needed to rebuild ``model`` (tensors copied to the CPU).

    Parameters
    ----------
    model
        A model made by :func:`~neurotwin.models.create_model`, loaded, or an
        :class:`~neurotwin.models.Ensemble`.

    Returns
    -------
    dict
        See the module docstring.
    """
    if isinstance(model, Ensemble):
        return {
            "format": FORMAT,
            "version": VERSION,
            "name": "ensemble",
            "members": [model_to_state(model.member(i)) for i in range(len(model))],
        }
    if not isinstance(model, TwinModule) or not model.name:
        raise NeurotwinError(
            "only models with a registry name can be saved; build them with create_model"
        )
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": model.name,
        "config": config_to_dict(model.config),
        "infos": {key: info.to_dict() for key, info in model.infos.items()},
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
    }


def _names(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def load_state_checked(
    model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str, name: str
) -> None:
    """Load ``state_dict`` into ``model``, or raise one error naming every misfit.

    Parameters
    ----------
    model
        The freshly built model.
    state_dict
        Parameters and buffers to load.
    source
        Where the weights come from (for the message).
    name
        The model's name (for the message).
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [
        f"{k} has shape {tuple(state_dict[k].shape)}, expected {tuple(expected[k].shape)}"
        for k in expected
        if k in state_dict and tuple(state_dict[k].shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"missing {_names(missing)}")
        if unexpected:
            parts.append(f"unexpected {_names(unexpected)}")
        if mismatched:
            parts.append(f"shape mismatch: {_names(mismatched, 4)}")
        raise NeurotwinError(
            f"{source} holds the weights of another model than {name!r}: " + "; ".join(parts)
        )
    model.load_state_dict(dict(state_dict))


def _check_header(state: Any, source: str) -> dict[str, Any]:
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        hint = ""
        if (
            isinstance(state, dict)
            and state
            and all(isinstance(v, torch.Tensor) for v in state.values())
        ):
            hint = (
                " (it looks like a bare state_dict; a 2022 starting-kit checkpoint loads with "
                "neurotwin.models.load_kit_state_dict)"
            )
        elif isinstance(state, dict) and state.get("format") == TRAINING_CHECKPOINT_FORMAT:
            hint = (
                " but a training checkpoint: the trained model is model.pt in the same run "
                "folder once training has finished; fit() or neurotwin train on that folder "
                "resumes the run"
            )
        raise NeurotwinError(f"{source} is not a neurotwin model{hint}")
    version = state.get("version")
    if not isinstance(version, int) or version < 1:
        raise NeurotwinError(f"{source} has an invalid format version {version!r}")
    if version > VERSION:
        raise NeurotwinError(
            f"{source} has format version {version}; this neurotwin reads up to {VERSION} "
            "(upgrade neurotwin)"
        )
    return state


def model_from_state(state: Mapping[str, Any], source: str = "model state") -> TwinModule:
    """Rebuild a model from :func:`model_to_state` output.

    Parameters
    ----------
    state
        The saved state.
    source
        Names the state's origin in error messages (a file name).

    Returns
    -------
    TwinModule
        The model, in training mode (as freshly built), with the saved weights.
    """
    state = _check_header(state, source)
    name = state.get("name")
    if name == "ensemble":
        members = state.get("members")
        if not isinstance(members, list) or not members:
            raise NeurotwinError(f"{source}: an ensemble state needs a list of members")
        return Ensemble(
            [model_from_state(m, f"{source} (member {i})") for i, m in enumerate(members)]
        )
    missing = [k for k in ("name", "config", "infos", "state_dict") if k not in state]
    if missing:
        raise NeurotwinError(f"{source} lacks {', '.join(missing)}")
    try:
        entry = model_entry(str(name))
    except NeurotwinError as error:
        raise NeurotwinError(f"{source}: saved model {name!r} is not registered: {error}") from None
    # The saved config is complete when written; a field it lacks was added to the class
    # later, and the class default (not the named model's default) is what older
    # versions did.
    try:
        config = config_from_dict(type(entry.default_config()), state["config"], where=str(name))
    except ConfigError as error:
        raise NeurotwinError(f"{source}: its config does not fit model {name!r}: {error}") from None
    infos = {key: RecordingInfo.from_dict(value) for key, value in state["infos"].items()}
    model = build_model(str(name), infos, config)
    load_state_checked(model, state["state_dict"], source, str(name))
    return model


def save_model(model: TwinModule, path: PathLike) -> Path:
    """Write ``model`` to ``path`` atomically (a temporary file renamed into place).

    Parameters
    ----------
    model
        A registered model or an ensemble.
    path
        Destination file (conventionally ``model.pt``); its folder must exist.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    state = model_to_state(model)
    return atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_model(path: PathLike, map_location: str | torch.device = "cpu") -> TwinModule:
    """Read a model written by :func:`save_model`.

    Parameters
    ----------
    path
        The file.
    map_location
        Device for the tensors (passed to :func:`torch.load`).

    Returns
    -------
    TwinModule
        The model in eval mode, on ``map_location``.

    Raises
    ------
    NeurotwinError
        The file is missing, is not a neurotwin model, has a newer format version, names
        an unregistered model, or holds weights that do not fit the model it names.
    """
    path = Path(path)
    if not path.is_file():
        raise NeurotwinError(f"{path}: no such model file")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:  # torch's message advises weights_only=False: never here
        raise NeurotwinError(
            f"{path} is not a neurotwin model file: it holds Python objects a model file never "
            "holds (neurotwin loads weights only and runs no pickled code)"
        ) from None
    except Exception as error:  # zip and torch errors also mean "not ours"
        raise NeurotwinError(
            f"{path} is not a neurotwin model file ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else 'unreadable'})"
        ) from None
    model = model_from_state(state, str(path))
    return model.to(map_location).eval()


def check_compatible(model: TwinModel, recording: Any) -> None:
    """Raise when ``model`` cannot predict ``recording``'s neurons.

    Parameters
    ----------
    model
        A model (or ensemble).
    recording
        An open :class:`~neurotwin.data.Recording`, a
        :class:`~neurotwin.models.RecordingInfo`, or a path to a recording.

    Raises
    ------
    NeurotwinError
        The model has no readout for the recording's key, or the neuron count or unit ids
        differ from those the readout was built for.
    """
    if isinstance(recording, str | os.PathLike):
        from neurotwin.data import open_recording

        recording = open_recording(recording)
    where = getattr(recording, "location", None) or recording.key
    info = model.infos.get(recording.key)
    if info is None:
        raise NeurotwinError(
            f"recording {where} has key {recording.key!r}; model {model.name!r} has readouts "
            f"for {', '.join(model.keys)} only"
        )
    n = int(recording.n_neurons)
    if n != info.n_neurons:
        raise NeurotwinError(
            f"recording {where} has {n} neurons, the readout of key {recording.key!r} expects "
            f"{info.n_neurons}"
        )
    ids = np.asarray(recording.unit_ids).astype(np.int64, copy=False)
    if not np.array_equal(ids, info.unit_ids):
        unknown = np.setdiff1d(ids, info.unit_ids)
        detail = (
            f"{len(unknown)} unit ids are unknown to the readout (e.g. {unknown[:3].tolist()})"
            if len(unknown)
            else "the same unit ids come in another order"
        )
        raise NeurotwinError(
            f"recording {where} does not match the readout of key {recording.key!r}: {detail}"
        )


def attach_normalization(model: TwinModule, recording: Any) -> TwinModule:
    """Give a model the input normalisation of a recording it predicts (for old files).

    Model files written before neurotwin saved the loaders' normalisation in each
    :class:`~neurotwin.models.RecordingInfo` load fine but cannot
    :meth:`~neurotwin.models.TwinModule.predict_responses`; this reads the normalisation
    from the recording's statistics (what the loaders used when the model was trained) and
    stores it in the infos of the model and of every sub-model (ensemble members).
    :func:`save_model` then writes a file that carries it.

    Parameters
    ----------
    model
        The model (or ensemble), changed in place.
    recording
        The recording the model was trained on: an open
        :class:`~neurotwin.data.Recording` or its path.

    Returns
    -------
    TwinModule
        ``model``.

    Raises
    ------
    NeurotwinError
        The model has no readout for the recording, or its neurons differ.
    """
    if isinstance(recording, str | os.PathLike):
        from neurotwin.data import open_recording

        recording = open_recording(recording)
    check_compatible(model, recording)
    normalization = InputNormalization.from_recording(recording)
    for module in model.modules():
        if isinstance(module, TwinModule) and recording.key in module.infos:
            info = module.infos[recording.key]
            module.infos[recording.key] = dataclasses.replace(info, normalization=normalization)
    return model
