# %% [markdown]
# # 3. Training a baseline for each track
#
# SENSORIUM 2022 had two tracks. In `sensorium` a model sees only the image; in
# `sensorium+` it also sees the mouse's behaviour (pupil dilation and its derivative,
# running speed) and where the eye pointed. This tutorial trains the baseline of each
# track, the 2022 starting kit's models with its recipe, and scores them on the held-out
# test tiers beside the **exact ceiling** that only a simulated mouse can give.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from neurotwin.models import describe_models
from neurotwin.report import ceiling_scatter_figure, per_neuron_from_score_report
from neurotwin.simulate import simulate_static
from neurotwin.submit import evaluate
from neurotwin.train import TrainConfig, fit

QUICK = os.environ.get("NEUROTWIN_QUICK") == "1"  # the test suite's reduced size
PRESET = "tiny" if QUICK else "demo"
EPOCHS = 2 if QUICK else 12
(mouse,) = simulate_static(f"runs/demo/data-{PRESET}-seed0", preset=PRESET, seed=0, reuse=True)

# %% [markdown]
# ## The baselines
#
# Models come from a registry. The two track baselines share the kit's core (a 9x9
# convolution, then three depth-separable 7x7 layers, batch norm and ELU, 64 channels) and
# its full Gaussian readout (each neuron reads the core's features at one learned
# position, predicted from its position in cortex). `sensorium+` adds behaviour as extra
# input channels and a shifter that moves every readout position with the pupil centre.

# %%
print(describe_models())

# %% [markdown]
# ## Training
#
# `fit` opens the recording, builds the model for its neurons, and trains with the kit's
# recipe: Adam at a learning rate of 0.009, Poisson loss, the learning rate cut by 0.3
# when the validation correlation stops improving, early stopping with the best weights
# restored. Every epoch is logged to `metrics.jsonl` in the run folder and checkpointed, so
# an interrupted run resumes where it stopped (and a finished one is not trained again).
#
# On 2 CPU cores an epoch of the demo mouse takes about 30 seconds; we stop after a
# dozen epochs, where the kit's recipe would go on for up to 200.

# %%
recipe = TrainConfig(max_epochs=EPOCHS, batch_size=64, progress=False)
runs = {}
for name in ("sensorium", "sensorium+"):
    runs[name] = fit(mouse.path, name, f"runs/tutorial-{name}", recipe,
                     cache_dir="runs/demo/cache", log=None)  # fmt: skip
    print(f"{name}: best validation correlation {runs[name].best_correlation:.3f} "
          f"at epoch {runs[name].best_epoch} ({runs[name].stop_reason})")  # fmt: skip

# %%
fig, ax = plt.subplots(figsize=(6, 3.2))
for name, run in runs.items():
    epochs = [h["epoch"] for h in run.history]
    ax.plot(epochs, [h["validation_correlation"] for h in run.history], marker="o", label=name)
ax.set(xlabel="epoch", ylabel="validation correlation", title="learning curves")
ax.legend()
plt.show()

# %% [markdown]
# ## Evaluation beside the ceiling
#
# `evaluate` predicts the track's two test tiers (`test` scores the live leaderboard,
# `final_test` the final one) and computes every metric of the track. Because the
# simulator knows each neuron's true rate, each metric comes with its exact ceiling and
# the fraction of it reached.

# %%
reports = {name: evaluate(run.model, mouse.path, name, cache_dir="runs/demo/cache")
           for name, run in runs.items()}  # fmt: skip
print(reports["sensorium+"].table())

# %% [markdown]
# The number that matters for comparing tracks is the **fraction of the ceiling**: both
# tracks are scored on the same trials, and behaviour should let a model explain more of
# what is explainable.

# %%
fig, ax = plt.subplots(figsize=(6, 3.2))
for i, (name, report) in enumerate(reports.items()):
    for j, phase in enumerate(("live", "final")):
        metric = report.phases[phase].metrics["single_trial_correlation"]
        ax.bar(2 * j + i * 0.8, metric.value, width=0.7, color=f"C{i}",
               label=name if j == 0 else None)  # fmt: skip
        ax.hlines(metric.ceiling, 2 * j + i * 0.8 - 0.35, 2 * j + i * 0.8 + 0.35, color="k")
        ax.text(2 * j + i * 0.8, metric.value / 2, f"{metric.normalized:.0%}", ha="center",
                color="white")  # fmt: skip
ax.set_xticks([0.4, 2.4], ["test (live)", "final_test"])
ax.set(ylabel="single-trial correlation", title="model (bars) and exact ceiling (black)")
ax.legend(loc="lower right")
plt.show()

# %% [markdown]
# ## Neuron by neuron
#
# A mean hides a lot. Each dot is one neuron: its correlation against the best any model
# could reach for it. Neurons far below the dashed 70% line are where a better model
# would gain.

# %%
correlation, ceiling = per_neuron_from_score_report(reports["sensorium+"], phase="live")
print(f"neurons at >= 70% of their ceiling: {np.mean(correlation >= 0.7 * ceiling):.0%}")
ceiling_scatter_figure(correlation, ceiling)
