"""Loading speed of a realistic static recording: neurotwin's cache vs the reference way.

Writes a recording of realistic size (default 8,000 neurons, 6,000 trials at 144x256) with
the recording writer, then times one pass over its train tier, in batches of 128:

- reference: one ``np.load`` per trial file and a per-sample resize to 36x64 (as the 2022
  starting kit does), collated by a plain DataLoader;
- cold: neurotwin's ``static_loaders`` on first use, building the consolidated cache;
- warm: ``static_loaders`` again, reading the cache.

For each, ``seconds`` covers the whole pass including ``setup_seconds`` (creating the
loaders: opening and fingerprinting the recording, and building the cache when cold);
``epoch_samples_per_second`` excludes the setup, which happens once per training run.

Each phase runs in a fresh subprocess so that its peak memory is its own. Prints JSON.

    python benchmarks/load_speed.py [--neurons 8000] [--trials 6000] [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

NAME = "static90001-1-1-GrayImageNet-" + "b" * 32


def make_recording(dest: Path, neurons: int, trials: int) -> Path:
    from neurotwin.data import RecordingWriter

    rng = np.random.default_rng(0)
    n_test = min(1000, trials // 6)
    n_val = trials // 10
    tiers = ["train"] * (trials - n_val - 2 * n_test) + ["validation"] * n_val
    tiers += ["test"] * n_test + ["final_test"] * n_test
    with RecordingWriter(dest, NAME, "static", tiers=tiers) as writer:
        chunk = 250
        for start in range(0, trials, chunk):
            k = min(chunk, trials - start)
            writer.write_trials(
                start,
                images=rng.integers(0, 256, (k, 1, 144, 256)).astype(np.float32),
                responses=rng.gamma(0.5, 1.0, (k, neurons)).astype(np.float32),
                behavior=rng.random((k, 3)).astype(np.float32),
                pupil_center=rng.normal(size=(k, 2)).astype(np.float32),
            )
        writer.write_neurons(unit_ids=np.arange(neurons))
        writer.write_trial_info(trial_idx=np.arange(trials), frame_image_id=np.arange(trials))
    return writer.path


def reference_pass(path: Path, batch_size: int) -> tuple[int, float]:
    """One pass the way the 2022 kit loads: per-trial files, per-sample resize."""
    import torch
    from skimage.transform import resize
    from torch.utils.data import DataLoader, Dataset

    start = time.perf_counter()
    tiers = np.load(path / "meta/trials/tiers.npy")
    train = np.flatnonzero(tiers == "train")
    stats = path / "meta/statistics"
    img_mean = np.load(stats / "images/all/mean.npy")
    img_std = np.load(stats / "images/all/std.npy")
    resp_std = np.load(stats / "responses/all/std.npy")
    floor = 0.01 * resp_std.mean()
    resp_scale = np.where(resp_std > floor, resp_std, floor)

    class PerTrial(Dataset):
        def __len__(self) -> int:
            return len(train)

        def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
            i = train[item]
            image = np.load(path / f"data/images/{i}.npy")
            image = resize(image, (1, 36, 64), order=1, anti_aliasing=True, preserve_range=True)
            return {
                "images": torch.from_numpy(((image - img_mean) / img_std).astype(np.float32)),
                "responses": torch.from_numpy(
                    (np.load(path / f"data/responses/{i}.npy") / resp_scale).astype(np.float32)
                ),
                "behavior": torch.from_numpy(np.load(path / f"data/behavior/{i}.npy")),
                "pupil_center": torch.from_numpy(np.load(path / f"data/pupil_center/{i}.npy")),
            }

    loader = DataLoader(PerTrial(), batch_size=batch_size, shuffle=True)
    setup = time.perf_counter() - start
    count = 0
    for batch in loader:
        count += len(batch["images"])
    return count, setup


def neurotwin_pass(path: Path, batch_size: int, cache_dir: Path) -> tuple[int, float]:
    from neurotwin.data import static_loaders

    start = time.perf_counter()
    loaders = static_loaders(
        path,
        batch_size,
        scale=0.25,
        include_behavior=True,
        include_eye_position=True,
        tiers=["train"],
        cache_dir=cache_dir,
        progress=False,
    )
    setup = time.perf_counter() - start
    count = 0
    for batch in loaders["train"][next(iter(loaders["train"]))]:
        count += len(batch["images"])
    return count, setup


def phase(args: argparse.Namespace) -> None:
    import torch  # noqa: F401  (imports are not part of the pass)

    import neurotwin.data  # noqa: F401

    start = time.perf_counter()
    if args.phase == "reference":
        count, setup = reference_pass(args.data, args.batch_size)
    else:
        count, setup = neurotwin_pass(args.data, args.batch_size, args.cache_dir)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {"samples": count, "seconds": seconds, "setup_seconds": setup, "peak_rss_mib": peak}
        )
    )


def run_phase(name: str, data: Path, cache_dir: Path, batch_size: int) -> dict[str, float]:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--phase",
            name,
            "--data",
            str(data),
            "--cache-dir",
            str(cache_dir),
            "--batch-size",
            str(batch_size),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["samples_per_second"] = result["samples"] / result["seconds"]
    result["epoch_samples_per_second"] = result["samples"] / (
        result["seconds"] - result["setup_seconds"]
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=8000)
    parser.add_argument("--trials", type=int, default=6000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--data", type=Path, default=None, help="recording to reuse/create")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--phase", choices=["reference", "neurotwin"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        phase(args)
        return
    workdir = Path(tempfile.mkdtemp(prefix="neurotwin-bench-"))
    try:
        data = args.data
        made = 0.0
        if data is None or not data.exists():
            start = time.perf_counter()
            data = make_recording(
                args.data.parent if args.data else workdir, args.neurons, args.trials
            )
            made = time.perf_counter() - start
        cache_dir = args.cache_dir or workdir / "cache"
        shutil.rmtree(cache_dir, ignore_errors=True)
        reference = run_phase("reference", data, cache_dir, args.batch_size)
        cold = run_phase("neurotwin", data, cache_dir, args.batch_size)
        warm = run_phase("neurotwin", data, cache_dir, args.batch_size)
        recording = {
            "neurons": args.neurons,
            "trials": args.trials,
            "size": [144, 256],
            "train_trials": reference["samples"],
            "write_seconds": made,
        }
        result = {
            "benchmark": "load_speed",
            "recording": recording,
            "batch_size": args.batch_size,
            "resolution": [36, 64],
            "reference": reference,
            "neurotwin_cold": cold,
            "neurotwin_warm": warm,
        }
        # a pass includes creating the loaders (and, cold, building the cache); an epoch is
        # the iteration alone, what every further epoch of a training run costs
        for name, phase_result in (("cold", cold), ("warm", warm)):
            result[f"{name}_pass_speedup"] = (
                phase_result["samples_per_second"] / reference["samples_per_second"]
            )
            result[f"{name}_epoch_speedup"] = (
                phase_result["epoch_samples_per_second"] / reference["epoch_samples_per_second"]
            )
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
