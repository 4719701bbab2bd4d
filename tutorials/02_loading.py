# %% [markdown]
# # 2. Loading data for training
#
# Models train on batches, not on trial files. `static_loaders` turns one or several
# recordings into PyTorch `DataLoader`s, one per tier and recording, in one line. This
# tutorial shows what a batch holds, how it is normalised, and the cache that makes
# loading fast.

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np

from neurotwin.data import Interleaved, Normalizer, cache_for, open_recording, static_loaders
from neurotwin.simulate import simulate_static

QUICK = os.environ.get("NEUROTWIN_QUICK") == "1"  # the test suite's reduced size
PRESET = "tiny" if QUICK else "demo"
(mouse,) = simulate_static(f"runs/demo/data-{PRESET}-seed0", preset=PRESET, seed=0, reuse=True)

# %% [markdown]
# ## One line
#
# The arguments mirror the 2022 starting kit's `static_loaders`: a batch size, the resize
# factor of the images (0.25 turns 144x256 into the 36x64 the baselines use), and whether
# batches carry behaviour and eye position (the `sensorium+` track) or not.

# %%
loaders = static_loaders(
    mouse.path,
    batch_size=64,
    scale=0.25,
    include_behavior=True,
    include_eye_position=True,
    cache_dir="runs/demo/cache",
)
for tier, by_recording in loaders.items():
    for key, loader in by_recording.items():
        print(f"{tier:>10} {key}: {len(loader.dataset):5d} trials, {len(loader):4d} batches")

# %% [markdown]
# A batch is a dict of tensors. Images are `(batch, 1, height, width)`; behaviour has three
# channels (pupil dilation, its derivative, running speed) and the pupil centre two.

# %%
key = next(iter(loaders["train"]))
batch = next(iter(loaders["train"][key]))
for name, tensor in batch.items():
    print(f"{name:>12}: {tuple(tensor.shape)} {tensor.dtype}")

# %%
fig, axes = plt.subplots(2, 6, figsize=(12, 2.6))
for ax, image in zip(axes.ravel(), batch["images"][:12, 0], strict=True):
    ax.imshow(image, cmap="gray")
    ax.axis("off")
fig.suptitle("a training batch, as the model sees it (36 x 64, normalised)")
plt.show()

# %% [markdown]
# ## Normalisation
#
# The loaders apply the standard SENSORIUM normalisation, built from the statistics
# stored in the recording (`meta/statistics`): images are z-scored with one mean and std,
# each neuron's responses are divided by its std (never centred: they stay non-negative,
# as the Poisson loss needs), behaviour is divided by its std and the pupil centre is
# z-scored. `normalize=False` gives the values as stored.

# %%
recording = open_recording(mouse.path)
normalizer = Normalizer.from_recording(recording, ("images", "responses", "behavior"))
raw = static_loaders(mouse.path, batch_size=64, normalize=False, include_behavior=True,
                     tiers=["train"], shuffle=False, cache_dir="runs/demo/cache")  # fmt: skip
raw_batch = next(iter(raw["train"][key]))
normal = static_loaders(mouse.path, batch_size=64, include_behavior=True, tiers=["train"],
                        shuffle=False, cache_dir="runs/demo/cache")  # fmt: skip
normal_batch = next(iter(normal["train"][key]))
fig, axes = plt.subplots(1, 3, figsize=(13, 3))
for ax, name in zip(axes, ("images", "responses", "behavior"), strict=True):
    ax.hist(raw_batch[name].ravel().numpy(), bins=50, alpha=0.6, label="stored", log=True)
    ax.hist(normal_batch[name].ravel().numpy(), bins=50, alpha=0.6, label="normalised", log=True)
    ax.set_title(name)
axes[0].legend()
plt.show()

# %% [markdown]
# The same transform is available on its own, e.g. to bring predictions back to the
# recording's units (multiply by `scale`, add `offset`).

# %%
by_hand = normalizer("responses", raw_batch["responses"].numpy())
difference = np.abs(by_hand - normal_batch["responses"].numpy()).max()
print("largest difference from the loader:", difference)
print("response scale of the first neurons:", normalizer.transforms["responses"].scale[:5])

# %% [markdown]
# ## The cache
#
# Reading 6,000 small `.npy` files and resizing every image at every epoch is what made
# the 2022 kit slow. The first use of a recording instead builds one consolidated cache:
# every field stacked into one array, images resized once, stored as memory maps. It is
# keyed by the recording's files, so it is rebuilt when they change, and nothing is ever
# written into the data folder. By default caches live in `~/.cache/neurotwin` (or
# `$NEUROTWIN_CACHE_DIR`); here we keep them beside the demo's.

# %%
cache = cache_for(recording, (36, 64), "runs/demo/cache")
print(cache.path.name)
print({name: cache.array(name).shape for name in cache.fields})

# %% [markdown]
# Once the cache exists, an epoch of loading costs next to nothing: the whole training
# tier goes by in a fraction of a second.

# %%
start = time.perf_counter()
n = sum(len(b["images"]) for b in loaders["train"][key])
print(f"one pass over {n} training trials: {time.perf_counter() - start:.2f} s")

# %% [markdown]
# ## Several recordings
#
# Models of SENSORIUM share one core across mice, with a readout per mouse. Pass several
# recordings and you get a loader per recording; `Interleaved` walks them in turn, one
# batch of each per step, yielding the recording key with each batch so the model knows
# which readout to use. Here, two small simulated mice.

# %%
mice = simulate_static("runs/two-mice", preset="tiny", seed=1, mice=2, reuse=True)
both = static_loaders([m.path for m in mice], batch_size=32, cache_dir="runs/two-mice/cache")
steps = [(key, len(b["responses"][0])) for key, b in Interleaved(both["train"])]
print(steps[:4], "...", len(steps), "steps")
counts = {key: sum(1 for k, _ in steps if k == key) for key in both["train"]}
plt.figure(figsize=(4, 2.5))
plt.bar(list(counts), list(counts.values()))
plt.ylabel("batches per epoch")
plt.show()
