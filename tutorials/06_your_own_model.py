# %% [markdown]
# # 6. Bringing your own model
#
# A twin is a **core** (a network shared by all neurons, from images to feature maps)
# and a **readout** per recording (from feature maps to each neuron's rate), optionally
# with a shifter for eye position and behaviour. Every part comes from a registry, so a
# new architecture is one class and one decorator; the trainer, the scorer, the command
# line and the benchmarks then take it by name. This tutorial registers a new core,
# composes it with the kit's Gaussian readout, and benchmarks it against the `sensorium`
# baseline on the same mouse, with the same recipe.

# %%
import os
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
from torch import nn

from neurotwin.models import (
    ConfigError,
    Core,
    TwinConfig,
    create_model,
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
# ## Benchmark it
#
# Same mouse, same recipe, same scorer: the new model against the `sensorium` baseline
# (the same readout on the kit's core), on the images-only track, each beside the exact
# ceiling. On the command line this is `neurotwin train --model dilated-gaussian`, once
# the module defining it is imported.

# %%
recipe = TrainConfig(max_epochs=EPOCHS, batch_size=64, progress=False)
results = {}
for name in ("sensorium", "dilated-gaussian"):
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
