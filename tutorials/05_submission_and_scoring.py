# %% [markdown]
# # 5. Submitting and scoring locally
#
# In the competition, the responses of the test trials are withheld: you predict them,
# upload two CSV files, and the server scores them. This tutorial does the whole round
# trip on your machine with the very scorer the neurotwin competition server runs: make
# the files, check them, and score them as the benchmark does, from both sides (the
# participant's and the organiser's).

# %%
import os
import re

import matplotlib.pyplot as plt
import pandas as pd

from neurotwin.cli import main as neurotwin
from neurotwin.data import open_recording
from neurotwin.models import load_pretrained
from neurotwin.report import per_neuron_from_score_report
from neurotwin.scoring import SubmissionError, make_truth, save_truth, score
from neurotwin.simulate import simulate_static
from neurotwin.submit import make_submission

QUICK = os.environ.get("NEUROTWIN_QUICK") == "1"  # the test suite's reduced size
trials = {"train": 100, "validation": 40, "test_images": 10, "test_repeats": 4} if QUICK else {}

# %% [markdown]
# ## A competition release
#
# `competition=True` writes the recording the way the competition released it: trial ids
# hashed, and the responses of `test` and `final_test` replaced by zeros. The truth folder
# beside it keeps what was withheld, for the organiser. It is the demo mouse, so the
# pretrained `sensorium+` model fits its neurons.

# %%
(release,) = simulate_static(
    "runs/competition", preset="demo", seed=0, competition=True, reuse=True, **trials
)
recording = open_recording(release.path)
test = recording.tier_indices("test")
print("test responses in the release:", recording.load("responses", test[0])[:5])

# %% [markdown]
# ## The participant: make the submission
#
# `make_submission` predicts the two test tiers and writes the track's two files, in the
# 2022 format: one row per trial, with its (hashed) trial id, image id, the predictions of
# every neuron and the neuron ids.

# %%
model = load_pretrained("sensorium+")
folder = make_submission(model, release.path, "sensorium+", "runs/submission",
                         cache_dir="runs/competition/cache")  # fmt: skip
print(sorted(p.name for p in folder.iterdir()))
live = pd.read_csv(folder / "submission_file_live_test.csv")
live.head(3).map(lambda v: v if len(str(v)) < 40 else str(v)[:40] + "...")

# %% [markdown]
# The command line does the same: `neurotwin submit --model sensorium+ --track sensorium+
# RECORDING --out runs/submission`.
#
# ## The organiser: the ground truth and the scorer
#
# The organiser cuts the track's ground truth from the full recording (here, from the
# simulator's truth folder beside the release) into one file, and scores any submission
# against it. With the simulator's truth, every metric also gets its exact ceiling.

# %%
truth = make_truth("sensorium+", [release.path])
truth_file = save_truth(truth, "runs/sensorium+-truth.npz")
report = score("sensorium+", truth_file, folder)
print(report.table())

# %% [markdown]
# This is what `neurotwin score` prints; `--json` gives the same report as JSON for
# scripts, with the per-neuron values.

# %%
code = neurotwin(["score", "--track", "sensorium+", "--truth", str(truth_file),
                  "--submission", str(folder / "submission_file_live_test.csv")])  # fmt: skip
print("exit code", code)

# %%
correlation, ceiling = per_neuron_from_score_report(report, phase="live")
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.hist(correlation / ceiling, bins=40)
ax.set(xlabel="fraction of the neuron's exact ceiling", ylabel="neurons",
       title="live test tier, per neuron")  # fmt: skip
plt.show()

# %% [markdown]
# ## What the scorer refuses
#
# A submission with a problem is not scored at all. The scorer says what is wrong, naming
# the file and the line: every malformed line at once, and, once the file parses,
# every trial or neuron that is missing or extra.

# %%
with_nan = live.copy()
with_nan.loc[1, "prediction"] = re.sub(r"^\[[^,]+,", "[nan,", with_nan.loc[1, "prediction"])
examples = {"a trial missing": live.drop(index=0), "a prediction that is NaN": with_nan}
for number, (what, frame) in enumerate(examples.items()):
    os.makedirs(f"runs/broken-{number}", exist_ok=True)
    path = f"runs/broken-{number}/submission_file_live_test.csv"
    frame.to_csv(path, index=False)
    try:
        score("sensorium+", truth_file, path)
    except SubmissionError as error:
        print(f"{what}:\n  {error}")
