# %% [markdown]
# # 1. A recording
#
# A SENSORIUM 2022 recording is one imaging session of one mouse: thousands of natural
# images, each shown for half a second, and for every image the response of every
# recorded neuron, what the mouse was doing (pupil size, running) and where it looked.
# This tutorial opens one and looks at everything in it.
#
# We use the built-in **simulated mouse**: it is written in exactly the layout of the real
# releases, so everything here works on the real data, and it comes with its ground truth
# (the neurons' noiseless firing rates), which real recordings cannot give you.
#
# The test suite runs every tutorial with `NEUROTWIN_QUICK=1`, on a smaller mouse; unset,
# the tutorials use the demo mouse of `make demo` (500 neurons, 6,500 trials).

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from neurotwin.data import open_recording
from neurotwin.simulate import exact_ceiling, simulate_static

QUICK = os.environ.get("NEUROTWIN_QUICK") == "1"
PRESET = "tiny" if QUICK else "demo"

# %% [markdown]
# ## Simulate the mouse
#
# `simulate_static` writes the recording and, beside it, a `.truth` folder. With
# `reuse=True` an identical simulation already on disk is returned at once: this is the
# folder `make demo` uses, so if you ran the demo, nothing is simulated again.

# %%
(mouse,) = simulate_static(f"runs/demo/data-{PRESET}-seed0", preset=PRESET, seed=0, reuse=True)
print(mouse.path.name)
print(mouse.truth.name)

# %% [markdown]
# ## What is in it
#
# `open_recording` accepts a recording folder or its zip, real or simulated. It reads
# only the metadata; trials are loaded when you ask for them.

# %%
recording = open_recording(mouse.path)
print(recording.key, recording.n_neurons, "neurons,", recording.n_trials, "trials")
print("fields:", recording.fields)
print("trials per tier:", recording.tier_counts)
print("image size on disk:", recording.stimulus_hw)

# %% [markdown]
# Every trial is one image and, for that image, one value per field: the image itself
# `(1, 144, 256)`, the responses `(neurons,)`, behaviour `(3,)` (pupil dilation, its
# derivative, running speed) and the pupil centre `(2,)`.

# %%
trial = recording.trial(0)
{name: array.shape for name, array in trial.items()}

# %%
train = recording.tier_indices("train")
fig, axes = plt.subplots(1, 4, figsize=(12, 2.2))
for ax, index in zip(axes, train[:4], strict=True):
    ax.imshow(recording.load("images", index)[0], cmap="gray", vmin=0, vmax=255)
    ax.set_title(f"trial {index}, image {recording.image_ids[index]}", fontsize=9)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Responses
#
# Responses are deconvolved calcium activity: non-negative, mostly small, sometimes
# large. Each neuron has its own scale, which is why the loaders divide by each neuron's
# standard deviation (`meta/statistics/responses`).

# %%
responses = np.stack([recording.load("responses", i) for i in train])
stats = recording.statistics("responses")
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.2))
shown = min(60, recording.n_neurons)
image = left.imshow(responses[:200, :shown].T / stats["std"][:shown, None], aspect="auto",
                    cmap="magma", vmax=3)  # fmt: skip
left.set(xlabel="training trial", ylabel="neuron", title="responses / std")
fig.colorbar(image, ax=left)
right.hist(responses.ravel(), bins=80, log=True)
right.set(xlabel="response", ylabel="count (log)", title="all training responses")
plt.show()

# %% [markdown]
# ## Tiers and repeats
#
# `train` and `validation` images are each shown once. The two test tiers (`test`, used
# for the live leaderboard, and `final_test`) show a smaller set of images several times
# each: the repeats are what oracle ceilings are computed from. In a competition release
# their responses are withheld (all zeros).

# %%
for tier in ("test", "final_test"):
    ids = recording.image_ids[recording.tier_indices(tier)]
    values, counts = np.unique(ids, return_counts=True)
    print(f"{tier}: {len(values)} images, shown {counts.min()} to {counts.max()} times each")

# %% [markdown]
# The same image never gives the same response twice: trial-to-trial variability is
# large. Here is the response of the most reliable neuron to every repeat of each test
# image.

# %%
test = recording.tier_indices("test")
test_ids = recording.image_ids[test]
test_responses = np.stack([recording.load("responses", i) for i in test])
means = np.stack([test_responses[test_ids == v].mean(0) for v in np.unique(test_ids)])
reliable = int(np.argmax(means.var(0) / test_responses.var(0)))
fig, ax = plt.subplots(figsize=(10, 3))
for rank, value in enumerate(np.unique(test_ids)):
    ys = test_responses[test_ids == value, reliable]
    ax.scatter(np.full(len(ys), rank), ys, s=10, color="C0")
    ax.scatter(rank, ys.mean(), marker="_", s=300, color="C3")
ax.set(xlabel="test image", ylabel="response", title=f"neuron {reliable}: repeats (red: mean)")
plt.show()

# %% [markdown]
# ## Behaviour and eye position
#
# Pupil dilation and running speed change slowly over the session and scale the
# responses of many neurons; the pupil centre moves the image on the retina. The
# `sensorium+` track gives models these variables; the `sensorium` track does not.

# %%
order = np.argsort(recording.trial_info["trial_idx"])  # presentation order
behavior = np.stack([recording.load("behavior", i) for i in order])
pupil_center = np.stack([recording.load("pupil_center", i) for i in order])
fig, axes = plt.subplots(1, 3, figsize=(13, 3))
axes[0].plot(behavior[:, 0])
axes[0].set(xlabel="trial (presentation order)", title="pupil dilation")
axes[1].plot(behavior[:, 2], color="C1")
axes[1].set(xlabel="trial (presentation order)", title="running speed")
axes[2].scatter(pupil_center[:, 0], pupil_center[:, 1], s=3, alpha=0.5)
axes[2].set(xlabel="x", ylabel="y", title="pupil centre")
plt.show()

# %% [markdown]
# ## Neurons and retinotopy
#
# `meta/neurons/cell_motor_coordinates` gives every neuron's position in cortex. The
# simulator's ground truth knows where each neuron's receptive field is on the screen;
# neighbouring neurons see neighbouring parts of the image (retinotopy), which the
# Gaussian readout's position network exploits.

# %%
truth = np.load(mouse.truth / "neurons.npz")
xyz = recording.cell_motor_coordinates
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for ax, column, name in zip(axes, (1, 0), ("horizontal", "vertical"), strict=True):
    points = ax.scatter(xyz[:, 0], xyz[:, 1], c=truth["centre"][:, column], s=8, cmap="viridis")
    ax.set(xlabel="cortex x (µm)", ylabel="cortex y (µm)", title=f"{name} RF position")
    fig.colorbar(points, ax=ax, label="model-grid pixel")
plt.show()

# %% [markdown]
# ## The ground truth and the exact ceiling
#
# The truth folder holds every trial's noiseless firing rate. The best any model can do
# on a trial is to predict that rate exactly; the correlation of the rate with the noisy
# response is therefore the **exact ceiling** of the single-trial correlation. On real
# data only an estimate (the oracle, from repeats) exists.

# %%
rates = np.load(mouse.truth / "rates.npy")
noisy = np.load(mouse.truth / "responses.npy")
per_neuron, mean = exact_ceiling(mouse.truth, "test")
print(f"mean exact single-trial ceiling of the test tier: {mean:.3f}")
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.2))
left.scatter(rates[test, reliable], noisy[test, reliable], s=8)
left.set(xlabel="true rate", ylabel="recorded response", title=f"neuron {reliable}, test trials")
right.hist(per_neuron, bins=30)
right.axvline(mean, color="C3")
right.set(xlabel="exact ceiling (correlation)", ylabel="neurons", title="ceiling per neuron")
plt.show()
