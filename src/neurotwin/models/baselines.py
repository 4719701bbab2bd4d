"""Named baselines: the SENSORIUM 2022 starting kit's models and a few compositions.

Hyper-parameters of the kit (``sinzlab/sensorium``, ``sensorium.models.
stacked_core_full_gauss_readout`` with the ``model_config`` of the replication notebooks,
neuralpredictors 0.3.0):

=================  ======================================================================
``sensorium``      ``layers=4, input_kern=9, hidden_kern=7, hidden_channels=64,
                   depth_separable=True, pad_input=False, momentum=0.9 (function default),
                   gamma_input=6.3831, gamma_readout=0.0076, init_mu_range=0.3,
                   init_sigma=0.1, gauss_type='full', grid_mean_predictor: cortex, 2 dims,
                   1 hidden layer of 30, final tanh; elu_offset=0, shifter=False``
``sensorium+``     the same, with behaviour as 3 extra image channels and an MLP shifter
                   (``hidden_channels_shifter=5, shift_layers=3, gamma_shifter=0``)
``sensorium-ln``   ``linear=True`` and ``layers=3``, otherwise as ``sensorium``
``sensorium+-ln``  as ``sensorium-ln`` with behaviour channels; the kit's notebook builds
                   it without a shifter
=================  ======================================================================

One change to the kit's recipe: the behaviour channels of ``sensorium+`` and
``sensorium+-ln`` are multiplied by ``1 / input_kern**2`` (``behavior_channel_scale``). The
model computes the same set of functions, but Adam no longer moves the behaviour term 81
times faster than the image terms, which kept the kit's parametrisation near an
images-only score for its first 5-8 epochs (measured in ``docs/benchmarks.md``).
``behavior_channel_scale=1`` restores the kit's parametrisation exactly;
:func:`~neurotwin.models.load_kit_state_dict` converts the kit's weights to either. The video
baselines keep the kit's factor 1 on their behaviour and pupil planes: the one test of 1/121
on ``video-3d`` ran while the readout's old wide start stalled the model, so it is
inconclusive (``docs/benchmarks.md``).

The compositions ``sensorium+-gain`` (behaviour as a per-neuron gain instead of image
channels, plus the shifter) and ``sensorium-factorized`` (the kit's core with a factorised
readout) are ours.
"""

from __future__ import annotations

import dataclasses

from neurotwin.models.cores import StackedCoreConfig
from neurotwin.models.modulator import ModulatorConfig
from neurotwin.models.readouts import FactorizedReadoutConfig, GaussianReadoutConfig
from neurotwin.models.registry import register_model
from neurotwin.models.shifter import ShifterConfig
from neurotwin.models.twin import TwinConfig
from neurotwin.models.video_twin import Video3dTwin, VideoGRUTwin

#: The kit's core (SOTA) and its LN variant.
KIT_CORE = StackedCoreConfig()
KIT_LN_CORE = dataclasses.replace(KIT_CORE, linear=True, layers=3)
#: The kit's readout and shifter.
KIT_READOUT = GaussianReadoutConfig()
KIT_SHIFTER = ShifterConfig(enabled=True, hidden_features=5, num_layers=3, gamma_shifter=0.0)
#: Behaviour planes averaged, not summed, over the first filter (see the module docstring).
MEAN_BEHAVIOR_SCALE = 1.0 / KIT_CORE.input_kern**2


@register_model("sensorium")
def sensorium() -> TwinConfig:
    """2022 kit SOTA: CNN core, full Gaussian readout with cortex predictor, images only."""
    return TwinConfig(core=KIT_CORE, readout=KIT_READOUT)


@register_model("sensorium+")
def sensorium_plus() -> TwinConfig:
    """2022 kit SOTA for sensorium+: behaviour as 3 image channels (x 1/81), eye shifter."""
    return TwinConfig(
        core=KIT_CORE,
        readout=KIT_READOUT,
        behavior_channels=True,
        behavior_channel_scale=MEAN_BEHAVIOR_SCALE,
        shifter=KIT_SHIFTER,
    )


@register_model("sensorium-ln")
def sensorium_ln() -> TwinConfig:
    """2022 kit LN model: the core without nonlinearities (3 layers), images only."""
    return TwinConfig(core=KIT_LN_CORE, readout=KIT_READOUT)


@register_model("sensorium+-ln")
def sensorium_plus_ln() -> TwinConfig:
    """2022 kit LN model for sensorium+: linear core, behaviour channels (x 1/81), no shifter."""
    return TwinConfig(
        core=KIT_LN_CORE,
        readout=KIT_READOUT,
        behavior_channels=True,
        behavior_channel_scale=MEAN_BEHAVIOR_SCALE,
    )


@register_model("sensorium+-gain")
def sensorium_plus_gain() -> TwinConfig:
    """Kit core on images only; behaviour as a per-neuron gain; pupil-centre shifter."""
    return TwinConfig(
        core=KIT_CORE,
        readout=KIT_READOUT,
        shifter=KIT_SHIFTER,
        modulator=ModulatorConfig(enabled=True),
    )


@register_model("sensorium-factorized")
def sensorium_factorized() -> TwinConfig:
    """Kit core with a factorised readout (spatial mask x features), images only."""
    return TwinConfig(core=KIT_CORE, readout_type="factorized", readout=FactorizedReadoutConfig())


# The 2023 starting kit's video baselines (settings: neurotwin.models.video_twin).
register_model("video-gru")(VideoGRUTwin)
register_model("video-3d")(Video3dTwin)
