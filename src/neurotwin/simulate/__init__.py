"""The in-silico mouse: simulated SENSORIUM recordings whose true rates are known.

:func:`simulate_static` and :func:`simulate_video` write recordings in the exact on-disk
layout of the 2022 and 2023 releases, each with a ground-truth folder beside it
(``{name}.truth/``: noiseless rates, full responses, neuron parameters, ``simulation.json``).
:func:`exact_ceiling` gives the single-trial correlation ceiling of any tier.
"""

from typing import TYPE_CHECKING

from neurotwin._lazy import lazy_exports

if TYPE_CHECKING:
    from neurotwin.simulate.ceiling import exact_ceiling
    from neurotwin.simulate.config import (
        PRESETS,
        NeuronConfig,
        StaticConfig,
        VideoConfig,
        config_from_dict,
        config_to_dict,
        make_config,
    )
    from neurotwin.simulate.recording import SimulatedRecording, simulate_static, simulate_video

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "exact_ceiling": "neurotwin.simulate.ceiling",
        "PRESETS": "neurotwin.simulate.config",
        "NeuronConfig": "neurotwin.simulate.config",
        "StaticConfig": "neurotwin.simulate.config",
        "VideoConfig": "neurotwin.simulate.config",
        "config_from_dict": "neurotwin.simulate.config",
        "config_to_dict": "neurotwin.simulate.config",
        "make_config": "neurotwin.simulate.config",
        "SimulatedRecording": "neurotwin.simulate.recording",
        "simulate_static": "neurotwin.simulate.recording",
        "simulate_video": "neurotwin.simulate.recording",
    },
)

__all__ = [
    "PRESETS",
    "NeuronConfig",
    "SimulatedRecording",
    "StaticConfig",
    "VideoConfig",
    "config_from_dict",
    "config_to_dict",
    "exact_ceiling",
    "make_config",
    "simulate_static",
    "simulate_video",
]
