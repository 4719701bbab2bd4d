# %% [markdown]
# # 6. Bringing your own model
#
# A twin is a **core** (a network shared by all neurons, from images to feature maps)
# and a **readout** per recording (from feature maps to each neuron's rate), optionally
# with a shifter for eye position and behaviour. Every part comes from a registry, so a
# new architecture is one class and one decorator; the trainer, the scorer, the command
# line and the benchmarks then take it by name. This tutorial registers a new core,
# composes it with the kit's Gaussian readout, writes a whole new model class against the
# model contract, benchmarks both against the `sensorium` baseline on the same mouse, with
# the same recipe, and predicts raw images with the trained model file alone.

# %%
import os
from collections.abc import Mapping
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neurotwin.data import open_recording
from neurotwin.models import (
    ConfigError,
    Core,
    RecordingInfo,
    TwinConfig,
    TwinModel,
    TwinModule,
    create_model,
    load_model,
    recording_infos,
    register_core,
    register_model,
)
from neurotwin.simulate import simulate_static
from neurotwin.submit import evaluate
from neurotwin.train import TrainConfig, fit

QUICK = os.environ.get("NEUROTWIN_QUICK") == "1"  # the test suite's reduced size
PRESET = "tiny" if QUICK else "demo"
EPOCHS = 2 if QUICK else 10
(mouse,) = simulate_static(f"runs/demo/data-{PRESET}-seed0", preset=PRESET, seed=0, reuse=True)

# %% [markdown]
# ## A new core
#
# A core subclasses `Core`, names a dataclass holding its settings (`config_class`), sets
# `out_channels`, and is built as `cls(config, input_channels)`. This one stacks dilated
# convolutions: a wide receptive field from few layers. A core may also define
# `regularizer()`, a penalty added to the loss (none here).


# %%
@dataclass(frozen=True)
class DilatedCoreConfig:
    """Settings of the dilated core."""

    channels: int = 32
    dilations: tuple[int, ...] = (1, 2, 4)


@register_core("dilated")
class DilatedCore(Core):
    """3x3 convolutions with growing dilation, batch norm and ELU."""

    config_class = DilatedCoreConfig

    def __init__(self, config: DilatedCoreConfig, input_channels: int) -> None:
        super().__init__()
        self.input_channels = input_channels
        self.out_channels = config.channels
        layers: list[nn.Module] = []
        channels = input_channels
        for dilation in config.dilations:
            layers += [
                nn.Conv2d(channels, config.channels, 3, padding=dilation, dilation=dilation),
                nn.BatchNorm2d(config.channels),
                nn.ELU(),
            ]
            channels = config.channels
        self.layers = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Map ``(B, C, H, W)`` images to ``(B, channels, H, W)`` features."""
        return self.layers(images)


# %% [markdown]
# ## A new model
#
# A model is a composition: a function returning a `TwinConfig` that names the parts. Any
# field left out keeps its default (here the kit's full Gaussian readout, images only).


# %%
@register_model("dilated-gaussian")
def dilated_gaussian() -> TwinConfig:
    """Dilated core with the 2022 kit's full Gaussian readout, images only."""
    return TwinConfig(core_type="dilated", core=DilatedCoreConfig())


# %% [markdown]
# It is now a model like the others: `create_model` builds it for any recordings, its
# settings can be overridden by name (a mistyped one is an error that suggests the right
# name), and it saves and loads with its config.

# %%
infos = recording_infos(mouse.path)
model = create_model("dilated-gaussian", infos, core={"channels": 16})
print(model.config.core)
print(f"{sum(p.numel() for p in model.parameters()):,} parameters")
try:
    create_model("dilated-gaussian", infos, core={"chanels": 16})
except ConfigError as error:
    print(error)

# %% [markdown]
# ## A whole new model: the contract
#
# A model need not be a core and a readout. Every model follows one contract
# (`neurotwin.models.TwinModel`, a protocol the trainer and the submission code are typed
# against), and the abstract base `TwinModule` implements its bookkeeping. A subclass
# declares what it takes: `stimulus_kind` (`"static"` images or `"video"`) and
# `required_fields`, the batch fields it reads (the loaders then deliver exactly those),
# and splits its forward pass in two: `features(batch, key)`, the stimulus-driven part, and
# `head(features, batch, key)`, the recording's own part, returning strictly positive
# `(B, n_neurons)` rates. `regularizer` (default none) and `receptive_field_positions`
# (default unknown) are optional. Registered with a `config_class`, it is created, trained,
# saved and scored by name like the compositions.
#
# This one pools the image to an 8x8 grid and reads each neuron out linearly from it: a
# linear-nonlinear model with a low-resolution receptive field.


# %%
@dataclass(frozen=True)
class PooledLinearConfig:
    """Settings of the pooled linear model."""

    grid: int = 8
    gamma: float = 1e-3


@register_model("pooled-linear")
class PooledLinear(TwinModule):
    """Average-pooled pixels, a linear readout per recording, softplus."""

    config_class = PooledLinearConfig
    stimulus_kind = "static"
    required_fields = ("images",)

    def __init__(self, infos: Mapping[str, RecordingInfo], config: PooledLinearConfig) -> None:
        super().__init__(infos)
        self.config = config
        self.pool = nn.AdaptiveAvgPool2d(config.grid)
        self.readouts = nn.ModuleDict(
            {key: nn.Linear(config.grid**2, info.n_neurons) for key, info in infos.items()}
        )

    def features(self, batch: Mapping[str, torch.Tensor], key: str) -> torch.Tensor:
        """Pool ``(B, 1, H, W)`` images to ``(B, grid * grid)``."""
        return self.pool(batch["images"]).flatten(1)

    def head(
        self, features: torch.Tensor, batch: Mapping[str, torch.Tensor], key: str
    ) -> torch.Tensor:
        """Read each neuron of recording ``key`` out linearly, then softplus."""
        return F.softplus(self.readouts[key](features))

    def regularizer(self, key: str) -> torch.Tensor:
        """Return an L1 penalty on the readout weights."""
        return self.config.gamma * self.readouts[key].weight.abs().sum()


pooled = create_model("pooled-linear", infos)
print(isinstance(pooled, TwinModel), pooled.required_fields, pooled.needs_behavior)

# %% [markdown]
# ## Benchmark them
#
# Same mouse, same recipe, same scorer: the new models against the `sensorium` baseline
# (the same readout on the kit's core), on the images-only track, each beside the exact
# ceiling. On the command line this is `neurotwin train --model dilated-gaussian`, once
# the module defining it is imported.

# %%
recipe = TrainConfig(max_epochs=EPOCHS, batch_size=64, progress=False)
results = {}
for name in ("sensorium", "dilated-gaussian", "pooled-linear"):
    run = fit(mouse.path, name, f"runs/byo-{name}", recipe, cache_dir="runs/demo/cache", log=None)
    report = evaluate(run.model, mouse.path, "sensorium", cache_dir="runs/demo/cache")
    metric = report.phases["live"].metrics["single_trial_correlation"]
    seconds = [h["seconds"] for h in run.history if h["epoch"] > 0]
    results[name] = (metric, sum(seconds) / len(seconds), run.history)
    print(f"{name:>17}: {metric.value:.3f} = {metric.normalized:.0%} of the ceiling, "
          f"{results[name][1]:.1f} s per epoch")  # fmt: skip

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.2))
for i, (name, (metric, _, history)) in enumerate(results.items()):
    left.bar(i, metric.normalized, color=f"C{i}")
    right.plot([h["epoch"] for h in history], [h["validation_correlation"] for h in history],
               marker="o", label=name)  # fmt: skip
left.set_xticks(range(len(results)), list(results))
left.set(ylabel="fraction of the exact ceiling", title="test tier, single-trial correlation")
right.set(xlabel="epoch", ylabel="validation correlation", title="learning curves")
right.legend()
plt.show()

# %% [markdown]
# ## Predict raw images from the model file alone
#
# Each saved model carries the input normalisation of its recordings (image mean and std,
# behaviour and pupil-centre statistics, response scale), so a loaded model predicts raw
# images, at the recording's size, in the recording's own response units:
# `predict_responses` resizes and normalises them exactly as the loaders did in training.
# Models that read behaviour or the pupil centre take them raw too (`behavior=`,
# `pupil_center=`).

# %%
model = load_model("runs/byo-dilated-gaussian/model.pt")
recording = open_recording(mouse.path)
trials = recording.tier_indices("test")[:200]
images = np.stack([recording.load("images", int(i))[0] for i in trials])
recorded = np.stack([recording.load("responses", int(i)) for i in trials])
predicted = model.predict_responses(images)
print(f"raw images {images.shape} -> predicted responses {predicted.shape}")
fig, ax = plt.subplots(figsize=(4, 3.2))
ax.scatter(recorded.mean(0), predicted.mean(0), s=8)
ax.set(xlabel="recorded mean response", ylabel="predicted mean response",
       title="per neuron, test trials, response units")  # fmt: skip
plt.show()
