"""Time the scorer on full-size submissions of both releases; prints JSON.

2022: 7,776 neurons x 1,000 trials, one CSV, scored by neurotwin (parse, align, every metric)
next to the reference approach (pandas, then ``ast.literal_eval`` on every cell, then the
single-trial correlation). 2023: 8,000 neurons x 60 trials x 250 scored frames in one
brotli parquet inside the submission zip.

Run: ``python benchmarks/score_speed.py`` (``--only video`` or ``--only static`` for one case).
Each time is wall seconds, with the CPU seconds of all threads beside it (``_cpu_s``): on a
shared machine the CPU seconds say more. Options for the 2023 case: ``--streamed`` also
scores the zip with :data:`~neurotwin.scoring.streamed.KEEP_BYTES` at 0 (every phase file
decoded twice, batch by batch: the server's path for files beyond the budget);
``--plain-encoding`` also scores a copy whose prediction values are PLAIN-encoded, as Arrow
writes them by default and the 2023 kit's files are (brotli quality 1, so the copy is
written quickly; decoding does not depend on the quality).
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

from neurotwin.scoring import streamed
from neurotwin.scoring.metrics import single_trial_correlation
from neurotwin.scoring.predictions import StaticPredictions, VideoPredictions
from neurotwin.scoring.scorer import score
from neurotwin.scoring.static_csv import write_static_csv
from neurotwin.scoring.submission import write_submission
from neurotwin.scoring.truth import MouseTruth, TierTruth, Truth

T = TypeVar("T")


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


def _timed(run: Callable[[], T]) -> tuple[T, float, float]:
    """Return ``run()``, its wall seconds and the CPU seconds of all threads."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = run()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def _plain_copy(zip_path: Path, dest: Path) -> Path:
    """Rewrite each parquet member of a submission zip with Arrow's default encoding."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with zipfile.ZipFile(zip_path) as src, zipfile.ZipFile(dest, "w") as out:
        for name in src.namelist():
            table = pq.read_table(pa.BufferReader(src.read(name)))
            sink = io.BytesIO()
            pq.write_table(table, sink, compression="brotli", compression_level=1)
            out.writestr(name, sink.getvalue())
    return dest


def video_case(tmp: Path, streamed_too: bool = False, plain_too: bool = False) -> dict[str, float]:
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
    zip_path, write, write_cpu = _timed(
        lambda: write_submission("video-main", tmp / "video.zip", {"live": pred, "final": pred})
    )
    report, ours, ours_cpu = _timed(lambda: score("video-main", truth, zip_path))
    value = report.phases["live"].metrics["single_trial_correlation"].value
    out = {
        "neurons": n_neurons,
        "trials": n_trials,
        "frames": frames,
        "zip_mb": round(zip_path.stat().st_size / 2**20, 1),
        "write_both_phases_s": round(write, 3),
        "write_both_phases_cpu_s": round(write_cpu, 3),
        "neurotwin_both_phases_s": round(ours, 3),
        "neurotwin_both_phases_cpu_s": round(ours_cpu, 3),
        "single_trial_correlation": round(value, 6),
    }
    if streamed_too:
        keep, streamed.KEEP_BYTES = streamed.KEEP_BYTES, 0
        try:
            again, wall, cpu = _timed(lambda: score("video-main", truth, zip_path))
        finally:
            streamed.KEEP_BYTES = keep
        assert again.phases["live"].metrics["single_trial_correlation"].value == value
        out["streamed_both_phases_s"] = round(wall, 3)
        out["streamed_both_phases_cpu_s"] = round(cpu, 3)
    if plain_too:
        plain = _plain_copy(zip_path, tmp / "plain.zip")
        again, wall, cpu = _timed(lambda: score("video-main", truth, plain))
        assert again.phases["live"].metrics["single_trial_correlation"].value == value
        out["plain_encoding_zip_mb"] = round(plain.stat().st_size / 2**20, 1)
        out["plain_encoding_both_phases_s"] = round(wall, 3)
        out["plain_encoding_both_phases_cpu_s"] = round(cpu, 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("static", "video"), help="run one case only")
    parser.add_argument(
        "--streamed", action="store_true", help="2023: also score with KEEP_BYTES at 0"
    )
    parser.add_argument(
        "--plain-encoding",
        action="store_true",
        help="2023: also score a copy with Arrow's default (PLAIN) encoding",
    )
    args = parser.parse_args()
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "static"):
            out["static_2022"] = static_case(Path(tmp))
        if args.only in (None, "video"):
            out["video_2023"] = video_case(Path(tmp), args.streamed, args.plain_encoding)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
