"""Time the scorer on full-size submissions of both releases; prints JSON.

2022: 7,776 neurons x 1,000 trials, one CSV, scored by neurotwin (parse, align, every metric)
next to the reference approach (pandas, then ``ast.literal_eval`` on every cell, then the
single-trial correlation). 2023: 8,000 neurons x 60 trials x 250 scored frames in one
brotli parquet inside the submission zip.

Run: ``python benchmarks/score_speed.py`` (``--only video`` or ``--only static`` for one case)
"""

from __future__ import annotations

import argparse
import ast
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from neurotwin.scoring.metrics import single_trial_correlation
from neurotwin.scoring.predictions import StaticPredictions, VideoPredictions
from neurotwin.scoring.scorer import score
from neurotwin.scoring.static_csv import write_static_csv
from neurotwin.scoring.submission import write_submission
from neurotwin.scoring.truth import MouseTruth, TierTruth, Truth


def static_case(tmp: Path) -> dict[str, float]:
    rng = np.random.default_rng(0)
    n_neurons, n_trials = 7776, 1000
    images = np.repeat(np.arange(100), 10).astype(str)
    signal = rng.gamma(2.0, 1.0, size=(100, n_neurons)).astype(np.float32)
    resp = signal[np.repeat(np.arange(100), 10)] + rng.gamma(1.0, 0.5, (n_trials, n_neurons))
    ids = np.array([f"{h:032x}" for h in rng.integers(0, 2**62, n_trials)])
    unit_ids = np.arange(n_neurons, dtype=np.int64) + 1
    tier = TierTruth(ids, images, resp.astype(np.float32))
    truth = Truth("sensorium", "1.0", "static", [MouseTruth("static-bench", unit_ids, {})])
    truth.mice[0].tiers = {"test": tier, "final_test": tier}
    pred = (resp + rng.normal(0, 1, resp.shape)).astype(np.float32)
    path = tmp / "submission_file_live_test.csv"
    write_static_csv(path, StaticPredictions(ids, images, unit_ids, pred))
    t0 = time.perf_counter()
    report = score("sensorium", truth, path)
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    df = pd.read_csv(path)
    ref_pred = np.array([ast.literal_eval(c) for c in df["prediction"]])
    _ = [ast.literal_eval(c) for c in df["neuron_ids"]]
    ref_value = float(single_trial_correlation(ref_pred, resp).mean())
    reference = time.perf_counter() - t0
    value = report.phases["live"].metrics["single_trial_correlation"].value
    assert abs(value - ref_value) < 1e-6, (value, ref_value)
    return {
        "neurons": n_neurons,
        "trials": n_trials,
        "file_mb": round(path.stat().st_size / 2**20, 1),
        "neurotwin_s": round(ours, 3),
        "reference_literal_eval_s": round(reference, 3),
        "speedup": round(reference / ours, 1),
        "single_trial_correlation": round(value, 6),
    }


def video_case(tmp: Path) -> dict[str, float]:
    rng = np.random.default_rng(1)
    n_neurons, n_trials, frames = 8000, 60, 250
    lengths = np.full(n_trials, 300, dtype=np.int64)
    resp = rng.gamma(1.0, 1.0, size=(n_trials, n_neurons, frames)).astype(np.float32)
    ids = np.arange(n_trials).astype(str)
    unit_ids = np.arange(n_neurons, dtype=np.int64)
    tier = TierTruth(
        ids, (np.arange(n_trials) // 6).astype(str), resp, n_frames=lengths - 50, lengths=lengths
    )
    name = "dynamic-bench"
    truth = Truth("video-main", "1.0", "video", [MouseTruth(name, unit_ids, {})])
    truth.mice[0].tiers = {"live_test_main": tier, "final_test_main": tier}
    noisy = resp + rng.normal(0, 1, resp.shape).astype(np.float32)
    pred = VideoPredictions(np.array([name] * n_trials), ids, {name: unit_ids}, list(noisy))
    t0 = time.perf_counter()
    zip_path = write_submission("video-main", tmp / "video.zip", {"live": pred, "final": pred})
    write = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = score("video-main", truth, zip_path)
    ours = time.perf_counter() - t0
    return {
        "neurons": n_neurons,
        "trials": n_trials,
        "frames": frames,
        "zip_mb": round(zip_path.stat().st_size / 2**20, 1),
        "write_both_phases_s": round(write, 3),
        "neurotwin_both_phases_s": round(ours, 3),
        "single_trial_correlation": round(
            report.phases["live"].metrics["single_trial_correlation"].value, 6
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("static", "video"), help="run one case only")
    args = parser.parse_args()
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "static"):
            out["static_2022"] = static_case(Path(tmp))
        if args.only in (None, "video"):
            out["video_2023"] = video_case(Path(tmp))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
