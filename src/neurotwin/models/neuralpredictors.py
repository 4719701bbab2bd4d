"""Load checkpoints of the SENSORIUM 2022 starting kit (neuralpredictors 0.3.0 layout).

The kit saved ``model.state_dict()`` of a ``FiringRateEncoder`` built by
``sensorium.models.stacked_core_full_gauss_readout`` (``Stacked2dCore`` with
``depth_separable=True``, ``MultipleFullGaussian2d`` readout, optional ``MLPShifter``).
:func:`load_kit_state_dict` renames and reshapes those entries into a neurotwin model:

=====================================================  =========================================
kit key (neuralpredictors 0.3.0)                       neurotwin key
=====================================================  =========================================
``core.features.layer0.conv.weight``                   ``core.layers.0.conv.weight``
``core.features.layer{i}.norm.{p}`` (5 entries)        ``core.layers.{i}.norm.{p}``
``core.features.layer{i}.ds_conv.in_depth_conv.{p}``   ``core.layers.{i}.conv.in_depth.{p}``
``core.features.layer{i}.ds_conv.spatial_conv.{p}``    ``core.layers.{i}.conv.spatial.{p}``
``core.features.layer{i}.ds_conv.out_depth_conv.{p}``  ``core.layers.{i}.conv.out_depth.{p}``
``core.features.layer{i}.conv.{p}`` (not separable)    ``core.layers.{i}.conv.{p}``
``core._input_weights_regularizer.laplace.filter``     dropped (the fixed 3x3 Laplacian)
``readout.{key}._features`` (or ``features``)          ``readouts.{key}.features`` (reshaped)
``readout.{key}.sigma``                                ``readouts.{key}.sigma`` (reshaped)
``readout.{key}.bias``                                 ``readouts.{key}.bias``
``readout.{key}._mu`` (free means only)                ``readouts.{key}.mu`` (reshaped)
``readout.{key}.source_grid``                          ``readouts.{key}.source_grid``
``readout.{key}.mu_transform.{j}.{p}``                 ``readouts.{key}.position_net.{j}.{p}``
``shifter.{key}.mlp.{j}.{p}``                          ``shifters.{key}.net.{j}.{p}``
=====================================================  =========================================

``{p}`` is ``weight``/``bias`` (batch norm: also ``running_mean``, ``running_var``,
``num_batches_tracked``); conv biases appear only in kits built with a core bias. Shapes
(C channels, n neurons): first conv ``(C, C_in, 9, 9)``, 1x1 convs ``(C, C, 1, 1)``,
depthwise ``(C, 1, 7, 7)``; ``features`` ``(1, C, 1, n) -> (C, n)``, ``sigma``
``(1, n, 2, 2) -> (n, 2, 2)``, ``mu`` ``(1, n, 1, 2) -> (n, 2)``, ``source_grid`` ``(n, 2)``,
mean predictor ``Linear(2, 30)``/``Linear(30, 2)`` at ``j = 0, 2``, shifter
``Linear(2, 5)``/``Linear(5, 5)``/``Linear(5, 2)`` at ``j = 0, 2, 4``. The full table is in
``docs/neuralpredictors-keymap.md``.

The kit fed behaviour planes unscaled; a model whose ``behavior_channel_scale`` is ``s``
(``sensorium+``: ``1/81``) gets the behaviour slice of the first convolution divided by
``s``, so it predicts exactly what the kit's model predicted.

Both layouts order their ``nn.Sequential`` layers the same way (Linear, ELU, Linear, Tanh
for the mean predictor; Linear, Tanh three times for the shifter), and batch norm uses
:class:`torch.nn.BatchNorm2d` in both, with the kit's ``momentum=0.9`` passed unchanged.
What a state dict cannot tell (the LN model has no nonlinearity parameters) is given by
the model name: ``model="sensorium-ln"``.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

import torch

from neurotwin.errors import NeurotwinError
from neurotwin.models.base import TwinModule
from neurotwin.models.checkpoint import load_state_checked
from neurotwin.models.cores import LAPLACE_3X3
from neurotwin.models.info import RecordingInfo
from neurotwin.models.registry import create_model

PathLike = str | os.PathLike[str]
#: Our key of the first convolution, whose channels after the first are behaviour planes.
FIRST_CONV = "core.layers.0.conv.weight"
Reshape = Callable[[torch.Tensor, tuple[int, ...]], torch.Tensor]

_KEY = r"(?P<key>[^.]+)"
#: (kit pattern, neurotwin template, reshape to the neurotwin shape)
KEY_MAP: tuple[tuple[str, str, bool], ...] = (
    (
        r"core\.features\.layer(?P<i>\d+)\.conv\.(?P<p>weight|bias)",
        "core.layers.{i}.conv.{p}",
        False,
    ),
    (
        r"core\.features\.layer(?P<i>\d+)\.norm\.(?P<p>weight|bias|running_mean|running_var|num_batches_tracked)",
        "core.layers.{i}.norm.{p}",
        False,
    ),
    (
        r"core\.features\.layer(?P<i>\d+)\.ds_conv\.in_depth_conv\.(?P<p>weight|bias)",
        "core.layers.{i}.conv.in_depth.{p}",
        False,
    ),
    (
        r"core\.features\.layer(?P<i>\d+)\.ds_conv\.spatial_conv\.(?P<p>weight|bias)",
        "core.layers.{i}.conv.spatial.{p}",
        False,
    ),
    (
        r"core\.features\.layer(?P<i>\d+)\.ds_conv\.out_depth_conv\.(?P<p>weight|bias)",
        "core.layers.{i}.conv.out_depth.{p}",
        False,
    ),
    (rf"readout\.{_KEY}\._?features", "readouts.{key}.features", True),
    (rf"readout\.{_KEY}\.sigma", "readouts.{key}.sigma", True),
    (rf"readout\.{_KEY}\.bias", "readouts.{key}.bias", False),
    (rf"readout\.{_KEY}\._?mu", "readouts.{key}.mu", True),
    (rf"readout\.{_KEY}\.source_grid", "readouts.{key}.source_grid", False),
    (
        rf"readout\.{_KEY}\.mu_transform\.(?P<j>\d+)\.(?P<p>weight|bias)",
        "readouts.{key}.position_net.{j}.{p}",
        False,
    ),
    (rf"shifter\.{_KEY}\.mlp\.(?P<j>\d+)\.(?P<p>weight|bias)", "shifters.{key}.net.{j}.{p}", False),
)
#: Kit entries that carry no learned state.
DROPPED = (r"core\._input_weights_regularizer\.laplace\.filter",)


def translate_key(kit_key: str) -> tuple[str | None, bool]:
    """Return ``(neurotwin key, needs reshape)``; the key is None for dropped entries.

    Raises
    ------
    KeyError
        No rule knows ``kit_key``.
    """
    for pattern in DROPPED:
        if re.fullmatch(pattern, kit_key):
            return None, False
    for pattern, template, reshape in KEY_MAP:
        match = re.fullmatch(pattern, kit_key)
        if match:
            return template.format(**match.groupdict()), reshape
    raise KeyError(kit_key)


def read_kit_state_dict(source: PathLike | Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Return the kit state dict from a file or a mapping (a ``module.`` prefix dropped)."""
    if isinstance(source, str | os.PathLike):
        try:
            state = torch.load(source, map_location="cpu", weights_only=True)
        except Exception as error:
            raise NeurotwinError(
                f"{source} could not be read as a PyTorch state dict ({type(error).__name__})"
            ) from None
        where = str(source)
    else:
        state, where = source, "the state dict"
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise NeurotwinError(f"{where} is not a state dict (a mapping of names to tensors)")
    out = dict(state)
    if out and all(k.startswith("module.") for k in out):
        out = {k[len("module.") :]: v for k, v in out.items()}
    return out


def infer_config(state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """Read the architecture of a kit state dict: layer count, sizes, shifter, predictor.

    Returns
    -------
    dict
        Overrides for :func:`~neurotwin.models.create_model` (``core``, ``readout``,
        ``shifter`` sections and ``behavior_channels``).
    """
    first = state.get("core.features.layer0.conv.weight")
    if first is None:
        raise NeurotwinError(
            "not a 2022 starting-kit state dict: core.features.layer0.conv.weight is missing"
        )
    hidden, in_channels, input_kern = int(first.shape[0]), int(first.shape[1]), int(first.shape[2])
    layer_ids = {
        int(m.group(1)) for k in state if (m := re.match(r"core\.features\.layer(\d+)\.", k))
    }
    layers = max(layer_ids) + 1
    depth_separable = any(".ds_conv." in k for k in state)
    core: dict[str, Any] = {
        "hidden_channels": hidden,
        "layers": layers,
        "input_kern": input_kern,
        "depth_separable": depth_separable,
        "bias": any(re.match(r"core\.features\.layer[1-9]\d*\..*conv\.bias$", k) for k in state),
    }
    if layers > 1:
        name = "ds_conv.spatial_conv" if depth_separable else "conv"
        spatial = state.get(f"core.features.layer1.{name}.weight")
        if spatial is not None:
            core["hidden_kern"] = int(spatial.shape[-1])
    readout: dict[str, Any] = {}
    linear = sorted(
        {
            int(m.group(1))
            for k in state
            if (m := re.match(r"readout\.[^.]+\.mu_transform\.(\d+)\.weight$", k))
        }
    )
    readout["grid_mean_predictor"] = bool(linear)
    if linear:
        readout["predictor_hidden_layers"] = len(linear) - 1
        key0 = next(k for k in state if re.match(r"readout\.[^.]+\.mu_transform\.0\.weight$", k))
        weight = state[key0]
        readout["predictor_input_dims"] = int(weight.shape[1])
        if len(linear) > 1:
            readout["predictor_hidden_features"] = int(weight.shape[0])
    config: dict[str, Any] = {
        "core": core,
        "readout": readout,
        "behavior_channels": in_channels > 1,
    }
    shifter = sorted(
        {
            int(m.group(1))
            for k in state
            if (m := re.match(r"shifter\.[^.]+\.mlp\.(\d+)\.weight$", k))
        }
    )
    if shifter:
        first_shift = next(k for k in state if re.match(r"shifter\.[^.]+\.mlp\.0\.weight$", k))
        config["shifter"] = {
            "enabled": True,
            "num_layers": len(shifter),
            "hidden_features": int(state[first_shift].shape[0]),
        }
    else:
        config["shifter"] = {"enabled": False}
    return config


def load_kit_state_dict(
    source: PathLike | Mapping[str, Any],
    target: TwinModule | Mapping[str, RecordingInfo],
    *,
    model: str | None = None,
    preprocessing: str = "kit",
    **config: Any,
) -> TwinModule:
    """Load a 2022 starting-kit checkpoint into a neurotwin model.

    Parameters
    ----------
    source
        A file written by ``torch.save(model.state_dict())`` in the kit, or the dict.
    target
        A neurotwin model to fill (its architecture must match), or
        ``{recording_key: RecordingInfo}`` to build one whose architecture is read from the
        state dict.
    model
        With infos: the registry name to build (default: ``"sensorium+"`` when the state
        dict holds a shifter or behaviour channels, else ``"sensorium"``). An LN
        checkpoint cannot be told apart by its weights: pass ``"sensorium-ln"`` or
        ``"sensorium+-ln"``.
    preprocessing
        The image preprocessing recorded in the model's infos, which its predictions then
        use: ``"kit"`` (default: the kit's rescale without anti-aliasing, so that the
        weights see the images they were trained on and predict what the kit predicts) or
        ``"neurotwin"`` (see :mod:`neurotwin.data.cache`).
    **config
        Further overrides of the built model's config.

    Returns
    -------
    TwinModule
        The model with the kit's weights, in eval mode.

    Raises
    ------
    NeurotwinError
        Kit entries no rule maps, model entries the kit does not fill, or shape
        mismatches, all listed in one message.
    """
    state = read_kit_state_dict(source)
    if isinstance(target, TwinModule):
        twin = target
    else:
        inferred = infer_config(state)
        if model is None:
            plus = inferred["behavior_channels"] or inferred["shifter"]["enabled"]
            model = "sensorium+" if plus else "sensorium"
        inferred.update(config)
        twin = create_model(model, target, **inferred)
    expected = twin.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    unmapped: list[str] = []
    for kit_key, value in state.items():
        try:
            ours, reshape = translate_key(kit_key)
        except KeyError:
            unmapped.append(kit_key)
            continue
        if ours is None:
            if kit_key.endswith("laplace.filter") and not torch.equal(
                value.float().reshape(3, 3), torch.tensor(LAPLACE_3X3)
            ):
                unmapped.append(f"{kit_key} (not the 3x3 Laplacian)")
            continue
        if reshape and ours in expected and value.numel() == expected[ours].numel():
            value = value.reshape(expected[ours].shape)
        mapped[ours] = value
    if unmapped:
        raise NeurotwinError(
            "the state dict has entries no rule of the 2022 kit key map knows: "
            + ", ".join(unmapped[:8])
            + (f" and {len(unmapped) - 8} more" if len(unmapped) > 8 else "")
        )
    first = mapped.get(FIRST_CONV)
    scale = float(getattr(twin.config, "behavior_channel_scale", 1.0))
    if first is not None and first.ndim == 4 and first.shape[1] > 1 and scale != 1.0:
        mapped[FIRST_CONV] = torch.cat([first[:, :1], first[:, 1:] / scale], dim=1)
    load_state_checked(twin, mapped, "the 2022 kit state dict", twin.name or type(twin).__name__)
    twin.infos = {
        key: dataclasses.replace(info, preprocessing=preprocessing)
        for key, info in twin.infos.items()
    }
    return twin.eval()
