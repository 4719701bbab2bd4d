"""Models that predict neural responses from stimuli and behaviour.

Build a registered model with :func:`create_model` (``list_models()`` names them), save and
load it with :func:`save_model` / :func:`load_model`. A model is a core shared by all
recordings, one readout per recording, optional shifter and behaviour modulator, and an
output nonlinearity; cores, readouts and whole models live in registries so that a new one
is a class plus a decorator (:func:`register_core`, :func:`register_readout`,
:func:`register_model`). Every model follows :class:`TwinModel` (the contract) by deriving
from :class:`TwinModule` (its abstract base).

The package face is lazy: ``import neurotwin.models`` imports nothing heavy until a name is
used, and the first name used also imports the built-in models, so that they are
registered before anything looks a model up.
"""

from typing import TYPE_CHECKING, Any

from neurotwin._lazy import lazy_exports

if TYPE_CHECKING:
    from neurotwin.config import (
        ConfigError,
        apply_overrides,
        config_from_dict,
        config_to_dict,
    )
    from neurotwin.models.base import TwinModule
    from neurotwin.models.checkpoint import (
        FORMAT,
        VERSION,
        attach_normalization,
        check_compatible,
        load_model,
        model_from_state,
        model_to_state,
        save_model,
    )
    from neurotwin.models.contract import StimulusKind, TwinModel
    from neurotwin.models.cores import Core, DepthSeparableConv2d, StackedCore2d, StackedCoreConfig
    from neurotwin.models.ensemble import Ensemble, EnsembleConfig
    from neurotwin.models.info import RecordingInfo, recording_infos
    from neurotwin.models.modulator import GainModulator, ModulatorConfig
    from neurotwin.models.neuralpredictors import load_kit_state_dict
    from neurotwin.models.normalization import InputNormalization
    from neurotwin.models.pooled_readout import PooledReadout, PooledReadoutConfig
    from neurotwin.models.pretrained import (
        WEIGHTS_DIR,
        list_pretrained,
        load_pretrained,
        pretrained_record,
        resolve_model,
    )
    from neurotwin.models.readouts import (
        FactorizedReadout,
        FactorizedReadoutConfig,
        FullGaussianReadout,
        GaussianReadoutConfig,
        Readout,
    )
    from neurotwin.models.registry import (
        create_model,
        default_config,
        describe_models,
        get_core,
        get_readout,
        list_cores,
        list_models,
        list_readouts,
        register_builder,
        register_core,
        register_model,
        register_readout,
    )
    from neurotwin.models.shifter import Shifter, ShifterConfig
    from neurotwin.models.twin import Twin, TwinConfig
    from neurotwin.models.video_dwise import DwiseConfig, DwiseCoreConfig, DwiseTwin

_EXPORTS = {
    "TwinModule": "neurotwin.models.base",
    "FORMAT": "neurotwin.models.checkpoint",
    "VERSION": "neurotwin.models.checkpoint",
    "attach_normalization": "neurotwin.models.checkpoint",
    "check_compatible": "neurotwin.models.checkpoint",
    "load_model": "neurotwin.models.checkpoint",
    "model_from_state": "neurotwin.models.checkpoint",
    "model_to_state": "neurotwin.models.checkpoint",
    "save_model": "neurotwin.models.checkpoint",
    "ConfigError": "neurotwin.config",
    "apply_overrides": "neurotwin.config",
    "config_from_dict": "neurotwin.config",
    "config_to_dict": "neurotwin.config",
    "StimulusKind": "neurotwin.models.contract",
    "TwinModel": "neurotwin.models.contract",
    "Core": "neurotwin.models.cores",
    "DepthSeparableConv2d": "neurotwin.models.cores",
    "StackedCore2d": "neurotwin.models.cores",
    "StackedCoreConfig": "neurotwin.models.cores",
    "Ensemble": "neurotwin.models.ensemble",
    "EnsembleConfig": "neurotwin.models.ensemble",
    "RecordingInfo": "neurotwin.models.info",
    "recording_infos": "neurotwin.models.info",
    "GainModulator": "neurotwin.models.modulator",
    "ModulatorConfig": "neurotwin.models.modulator",
    "load_kit_state_dict": "neurotwin.models.neuralpredictors",
    "InputNormalization": "neurotwin.models.normalization",
    "WEIGHTS_DIR": "neurotwin.models.pretrained",
    "list_pretrained": "neurotwin.models.pretrained",
    "load_pretrained": "neurotwin.models.pretrained",
    "pretrained_record": "neurotwin.models.pretrained",
    "resolve_model": "neurotwin.models.pretrained",
    "FactorizedReadout": "neurotwin.models.readouts",
    "FactorizedReadoutConfig": "neurotwin.models.readouts",
    "FullGaussianReadout": "neurotwin.models.readouts",
    "GaussianReadoutConfig": "neurotwin.models.readouts",
    "Readout": "neurotwin.models.readouts",
    "create_model": "neurotwin.models.registry",
    "default_config": "neurotwin.models.registry",
    "describe_models": "neurotwin.models.registry",
    "get_core": "neurotwin.models.registry",
    "get_readout": "neurotwin.models.registry",
    "list_cores": "neurotwin.models.registry",
    "list_models": "neurotwin.models.registry",
    "list_readouts": "neurotwin.models.registry",
    "register_builder": "neurotwin.models.registry",
    "register_core": "neurotwin.models.registry",
    "register_model": "neurotwin.models.registry",
    "register_readout": "neurotwin.models.registry",
    "Shifter": "neurotwin.models.shifter",
    "ShifterConfig": "neurotwin.models.shifter",
    "Twin": "neurotwin.models.twin",
    "TwinConfig": "neurotwin.models.twin",
    "PooledReadout": "neurotwin.models.pooled_readout",
    "PooledReadoutConfig": "neurotwin.models.pooled_readout",
    "DwiseConfig": "neurotwin.models.video_dwise",
    "DwiseCoreConfig": "neurotwin.models.video_dwise",
    "DwiseTwin": "neurotwin.models.video_dwise",
}
_getattr, __dir__ = lazy_exports(__name__, _EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        from neurotwin.models import baselines  # noqa: F401  (registers the built-in models)
    return _getattr(name)


__all__ = [
    "ConfigError",
    "Core",
    "DepthSeparableConv2d",
    "DwiseConfig",
    "DwiseCoreConfig",
    "DwiseTwin",
    "Ensemble",
    "EnsembleConfig",
    "FORMAT",
    "FactorizedReadout",
    "FactorizedReadoutConfig",
    "FullGaussianReadout",
    "GainModulator",
    "GaussianReadoutConfig",
    "InputNormalization",
    "ModulatorConfig",
    "PooledReadout",
    "PooledReadoutConfig",
    "Readout",
    "RecordingInfo",
    "Shifter",
    "ShifterConfig",
    "StackedCore2d",
    "StackedCoreConfig",
    "StimulusKind",
    "Twin",
    "TwinConfig",
    "TwinModel",
    "TwinModule",
    "VERSION",
    "WEIGHTS_DIR",
    "apply_overrides",
    "attach_normalization",
    "check_compatible",
    "config_from_dict",
    "config_to_dict",
    "create_model",
    "default_config",
    "describe_models",
    "get_core",
    "get_readout",
    "list_cores",
    "list_models",
    "list_pretrained",
    "list_readouts",
    "load_kit_state_dict",
    "load_model",
    "load_pretrained",
    "model_from_state",
    "model_to_state",
    "pretrained_record",
    "recording_infos",
    "register_builder",
    "register_core",
    "register_model",
    "register_readout",
    "resolve_model",
    "save_model",
]
