"""Models that predict neural responses from stimuli and behaviour.

Build a registered model with :func:`create_model` (``list_models()`` names them), save and
load it with :func:`save_model` / :func:`load_model`. A model is a core shared by all
recordings, one readout per recording, optional shifter and behaviour modulator, and an
output nonlinearity; cores, readouts and whole models live in registries so that a new one
is a class plus a decorator (:func:`register_core`, :func:`register_readout`,
:func:`register_model`).
"""

from neurotwin.config import ConfigError, apply_overrides, config_from_dict, config_to_dict
from neurotwin.models import baselines as _baselines  # noqa: F401  (registers the baselines)
from neurotwin.models.base import TwinModule
from neurotwin.models.checkpoint import (
    FORMAT,
    VERSION,
    check_compatible,
    load_model,
    model_from_state,
    model_to_state,
    save_model,
)
from neurotwin.models.cores import Core, DepthSeparableConv2d, StackedCore2d, StackedCoreConfig
from neurotwin.models.ensemble import Ensemble, EnsembleConfig
from neurotwin.models.info import RecordingInfo, recording_infos
from neurotwin.models.modulator import GainModulator, ModulatorConfig
from neurotwin.models.neuralpredictors import load_kit_state_dict
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
    register_core,
    register_model,
    register_readout,
)
from neurotwin.models.shifter import Shifter, ShifterConfig
from neurotwin.models.twin import Twin, TwinConfig

__all__ = [
    "FORMAT",
    "VERSION",
    "WEIGHTS_DIR",
    "ConfigError",
    "Core",
    "DepthSeparableConv2d",
    "Ensemble",
    "EnsembleConfig",
    "FactorizedReadout",
    "FactorizedReadoutConfig",
    "FullGaussianReadout",
    "GainModulator",
    "GaussianReadoutConfig",
    "ModulatorConfig",
    "Readout",
    "RecordingInfo",
    "Shifter",
    "ShifterConfig",
    "StackedCore2d",
    "StackedCoreConfig",
    "Twin",
    "TwinConfig",
    "TwinModule",
    "apply_overrides",
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
    "load_pretrained",
    "pretrained_record",
    "resolve_model",
    "list_readouts",
    "load_kit_state_dict",
    "load_model",
    "model_from_state",
    "model_to_state",
    "recording_infos",
    "register_core",
    "register_model",
    "register_readout",
    "save_model",
]
