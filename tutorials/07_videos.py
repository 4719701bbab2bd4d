# %% [markdown]
# # 7. Video twins: the 2023 tasks
#
# SENSORIUM 2023 showed mice natural **videos** (36x64 frames at 30 Hz, trials of about
# 10 s) and asked for every neuron's response at every frame. It had two tracks: `main`,
# test videos like the training ones, and `bonus`, five out-of-domain stimulus classes
# (noise, dots, random-dot kinematograms, gratings, still images). This tutorial simulates
# a video mouse, trains the `video-gru` baseline, predicts whole trials, scores both
# tracks beside their exact ceilings and looks at the predictions over time.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from neurotwin.data import open_recording
from neurotwin.demo import VIDEO_RECIPES, VIDEO_SIMULATION
from neurotwin.models import describe_models
from neurotwin.report import (
    class_bars_figure,
    correlation_by_frame,
    frame_correlation_figure,
    rate_traces_figure,
)
from neurotwin.scoring.scorer import check_submission, resolve_truth, score
from neurotwin.scoring.submission import write_submission
from neurotwin.scoring.tracks import get_track
from neurotwin.simulate import simulate_video
from neurotwin.submit import track_predictions
from neurotwin.train import TrainConfig, fit

QUICK = os.environ.get("NEUROTWIN_QUICK") == "1"  # the test suite's reduced size
PRESET = "tiny" if QUICK else "demo"
EPOCHS = 1 if QUICK else 6

# %% [markdown]
# ## A video mouse
#
# `simulate_video` writes recordings in the exact layout of the 2023 release, one per
# mouse, with the simulator's true rates beside them. This is the mouse of
# `neurotwin demo --video` (at the test size, a smaller one). Its tiers are the 2023
# release's: `train`, `oracle` (repeated videos, used for early stopping), and the live and
# final test tiers of each track.

# %%
(mouse,) = simulate_video(
    f"runs/demo/data-video-{PRESET}-seed0", PRESET, 0, 1, reuse=True, **VIDEO_SIMULATION[PRESET]
)
recording = open_recording(mouse.path)
print(recording.name, recording.n_neurons, "neurons")
print({tier: n for tier, n in recording.tier_counts.items() if n})

# %%
trial = int(recording.tier_indices("train")[0])
video = recording.load("videos", trial)  # (height, width, frames), NaN past the trial's end
behavior = recording.load("behavior", trial)  # (2, frames): pupil dilation, running speed
length = int(recording.lengths[trial])
fig, axes = plt.subplots(1, 4, figsize=(11, 2.2))
for ax, frame in zip(axes[:3], (0, length // 2, length - 1), strict=True):
    ax.imshow(video[:, :, frame], cmap="gray")
    ax.set(title=f"frame {frame}", xticks=[], yticks=[])
axes[3].plot(behavior[:, :length].T)
axes[3].set(title="behaviour", xlabel="frame")
plt.show()

# %% [markdown]
# ## The video baselines
#
# `video-gru` applies the 2022 kit's CNN core to every frame, then a convolutional GRU
# carries a state from frame to frame; `video-3d` stacks spatial-then-temporal
# convolutions, so it needs some frames of context before its first prediction. Both
# read each neuron out per frame with the Gaussian readout and shift it with the pupil.

# %%
print({name: text for name, text in describe_models().items() if name.startswith("video")})

# %% [markdown]
# ## Training
#
# `fit` trains a video model on random windows of each trial (the kit used 80 frames; the
# demo's recipe takes 40, half the cost on a CPU), sums the Poisson loss over the frames
# that are not padding, and stops early on the `oracle` tier's correlation, computed
# exactly as the scorer does. The recipe below is the video demo's: AdamW at 0.005 and the
# kit's `video-gru` scaled down to 16 channels, so that it trains on a CPU in minutes.

# %%
recipe = dict(VIDEO_RECIPES[PRESET])
model_config, frames = recipe.pop("model"), recipe.pop("frames")
recipe.update(max_epochs=EPOCHS, progress=False)
run = fit(mouse.path, "video-gru", f"runs/tutorial-video-{PRESET}", TrainConfig(**recipe),
          cache_dir="runs/demo/cache", frames=frames, log=None, **model_config)  # fmt: skip
model = run.model
print(f"best oracle correlation {run.best_correlation:.3f} at epoch {run.best_epoch}")

# %% [markdown]
# ## Both tracks, beside their exact ceilings
#
# `track_predictions` predicts every trial of a track's tiers whole (in pieces of bounded
# memory, the GRU's state handed from one to the next) and cuts them to the frames the 2023
# score counts (50 up to 300); `score` scores them against the recording's ground truth
# (`evaluate` does both in one call). The simulator's true rates give each score its exact
# ceiling; the bonus track is scored per out-of-domain class too.

# %%
tracks = ("video-main", "video-bonus")
predictions = {t: track_predictions(model, mouse.path, t, cache_dir="runs/demo/cache")
               for t in tracks}  # fmt: skip
reports = {t: score(t, [mouse.path], predictions[t]) for t in tracks}
print(reports["video-main"].table())

# %% [markdown]
# Each out-of-domain class beside its own ceiling: classes unlike the training videos are
# where a twin's generalisation shows.

# %%
bonus = reports["video-bonus"].phases["live"].metrics["single_trial_correlation"]
class_bars_figure(bonus.per_class, bonus.per_class_ceiling)

# %% [markdown]
# ## Over time
#
# The scorer's aligned arrays hold, for every trial, the prediction at each scored frame.
# With the true rates they show what the single number hides: how well the model follows
# a neuron through a trial, and how the accuracy changes from frame to frame.

# %%
truth = resolve_truth(get_track("video-main"), [mouse.path])
aligned = check_submission("video-main", predictions["video-main"], truth)
aligned = aligned.phases["live"][recording.name]  # (trials, neurons, scored frames)
tier = truth.mice[0].tiers["live_test_main"]
frames_0 = int(tier.n_frames[0])
neurons = np.argsort(-tier.rates[0].std(axis=1))[:3]  # the three most modulated neurons
labels = [f"unit {u}" for u in truth.mice[0].unit_ids[neurons]]
rate_traces_figure(aligned[0][neurons, :frames_0].T, labels,
                   tier.rates[0][neurons, :frames_0].T, tier.responses[0][neurons, :frames_0].T,
                   first_frame=50)  # fmt: skip

# %%
frame_correlation_figure(
    correlation_by_frame(aligned, tier.responses), correlation_by_frame(tier.rates, tier.responses)
)

# %% [markdown]
# ## Submitting
#
# `write_submission` writes a track's zip with the competition's upload names, in the
# 2023 leaderboard's format (and ready for `neurotwin score`); `make_submission` predicts and
# writes in one call. `neurotwin demo --video` does all of the above in one command and
# writes an HTML report with these figures.

# %%
for t in tracks:
    print(write_submission(t, f"runs/tutorial-video-{PRESET}/{t}.zip", predictions[t]))
