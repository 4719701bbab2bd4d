# %% [markdown]
# # 4. Pretrained weights and ensembles
#
# Training takes time; neurotwin ships the two track baselines already trained on the
# demo mouse, loaded by name. And averaging several models, each trained on a different
# split of the data, is the simplest way to a better twin: every winning SENSORIUM entry
# was an ensemble. This tutorial does both.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from neurotwin.errors import NeurotwinError
from neurotwin.models import (
    Ensemble,
    check_compatible,
    list_pretrained,
    load_model,
    load_pretrained,
    pretrained_record,
)
from neurotwin.simulate import simulate_static
from neurotwin.submit import evaluate
from neurotwin.train import TrainConfig, fit_ensemble

QUICK = os.environ.get("NEUROTWIN_QUICK") == "1"  # the test suite's reduced size

# %% [markdown]
# The pretrained weights belong to the demo mouse's neurons, so this tutorial uses the
# demo mouse at every size. At the test size it is the same mouse (same neurons, same
# receptive fields) shown fewer images.

# %%
if QUICK:
    trials = {"train": 100, "validation": 40, "test_images": 10, "test_repeats": 4}
    folder = "runs/demo/data-demo-seed0-fewer-trials"
else:
    trials, folder = {}, "runs/demo/data-demo-seed0"
(mouse,) = simulate_static(folder, preset="demo", seed=0, reuse=True, **trials)
EPOCHS = 2 if QUICK else 6
MEMBERS = 3

# %% [markdown]
# ## Pretrained models
#
# Each pretrained model comes with a record of how it was trained and what it scored.

# %%
print(list_pretrained())
record = pretrained_record("sensorium+")
print(f"{record['model']} on the {record['data']['preset']} mouse (seed {record['data']['seed']}): "
      f"{record['epochs_trained']} epochs, {record['train_seconds'] / 60:.0f} min")  # fmt: skip
live = record["scores"]["live"]["single_trial_correlation"]
print(f"recorded: {live['value']:.3f} of an exact ceiling of {live['ceiling']:.3f}")

# %%
pretrained = load_pretrained("sensorium+")
report = evaluate(pretrained, mouse.path, "sensorium+", cache_dir="runs/demo/cache")
print(report.table())

# %% [markdown]
# A model only predicts the neurons it was built for. Given another mouse, it refuses
# with a message that says what differs, instead of returning numbers for the wrong cells.

# %%
(other,) = simulate_static("runs/another-mouse", preset="tiny", seed=7, reuse=True)
try:
    check_compatible(pretrained, other.path)
except NeurotwinError as error:
    print(error)

# %% [markdown]
# The same names work on the command line: `neurotwin models` lists them with their
# scores, and `neurotwin evaluate --model sensorium+ ...` scores one.
#
# ## An ensemble
#
# `fit_ensemble` trains `MEMBERS` models of the same architecture, each on its own random
# re-split of the training and validation trials (so each member also early-stops on
# different data), and saves the ensemble as one model file.

# %%
recipe = TrainConfig(max_epochs=EPOCHS, batch_size=64, progress=False)
result = fit_ensemble(mouse.path, "sensorium+", "runs/tutorial-ensemble", MEMBERS, recipe,
                      cache_dir="runs/demo/cache", log=None)  # fmt: skip
ensemble = Ensemble(result.members)


def live_score(model):
    """Single-trial correlation of a model on the live test tier."""
    scores = evaluate(model, mouse.path, "sensorium+", cache_dir="runs/demo/cache")
    return scores.phases["live"].metrics["single_trial_correlation"]


members = [live_score(m).value for m in result.members]
together = live_score(ensemble)
print("members:", np.round(members, 3), f"ensemble: {together.value:.3f}")

# %%
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.bar(range(MEMBERS), members, color="C0", label="members")
ax.bar(MEMBERS, together.value, color="C3", label="ensemble")
ax.axhline(together.ceiling, color="k", linestyle="--", label="exact ceiling")
ax.set_xticks(range(MEMBERS + 1), [*(f"member {i}" for i in range(MEMBERS)), "ensemble"])
ax.set(ylabel="single-trial correlation (test)")
ax.legend(loc="lower right")
plt.show()

# %% [markdown]
# An ensemble is a model like any other: it predicts, saves and loads the same way (the
# file written by `fit_ensemble` is `runs/tutorial-ensemble/model.pt`), and members may
# even differ in architecture, e.g. the pretrained baseline can join the ones just trained.
# Whether that helps depends on the members: an average of comparably good models beats
# each of them, while much weaker members pull the average below the best one. Compare.

# %%
loaded = load_model(result.out / "model.pt")
print(type(loaded).__name__, "of", len(loaded.members), "members")
bigger = Ensemble([*result.members, pretrained])
alone = report.phases["live"].metrics["single_trial_correlation"].value
print(f"pretrained alone: {alone:.3f}, "
      f"averaged with the {MEMBERS} members: {live_score(bigger).value:.3f}")  # fmt: skip
