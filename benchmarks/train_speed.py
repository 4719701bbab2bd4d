"""Seconds per epoch of the ``sensorium`` baseline: neurotwin's trainer vs the 2022 kit's recipe.

Both train the same architecture (neurotwin's ``sensorium`` model, the kit's SOTA core and
full Gaussian readout), from the same initial weights, for the same number of epochs on the
same simulated recording, and report the validation correlation reached ("at equal score"):

- ``kit_recipe``: the 2022 starting kit's way: one ``np.load`` per trial file and a per-sample
  resize of each image to 36x64 inside the dataset, the default (contiguous) memory format,
  a plain loop (Poisson loss scaled by sqrt(n / batch) plus the regulariser, Adam, lr 0.009,
  batch 128) and a per-sample validation loader for the per-epoch correlation;
- ``neurotwin``: ``neurotwin.train.train`` on ``static_loaders`` (consolidated cache built
  once, batched reads, channels_last), same recipe;
- ``neurotwin_compiled`` (with ``--compile``): the same with ``torch.compile``.

Each variant runs in a fresh subprocess so its peak memory is its own. Prints JSON.

    python benchmarks/train_speed.py [--epochs 2] [--preset demo] [--data DIR] [--compile]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BATCH = 128
LR = 0.009


def simulated(data: Path, preset: str) -> Path:
    from neurotwin.simulate import simulate_static

    (recording,) = simulate_static(data, preset=preset, seed=0, reuse=True)
    return recording.path


def initial_model(path: Path, seed: int) -> object:
    import torch

    from neurotwin.models import create_model, recording_infos

    torch.manual_seed(seed)
    return create_model("sensorium", recording_infos([path], (36, 64)))


def kit_recipe(path: Path, epochs: int, seed: int) -> dict[str, object]:
    """Train the kit's way: per-sample files and resizing, contiguous tensors, a plain loop."""
    import torch
    from skimage.transform import resize
    from torch.utils.data import DataLoader, Dataset

    from neurotwin.data import open_recording
    from neurotwin.data.normalize import response_scale
    from neurotwin.scoring.metrics import correlation
    from neurotwin.train import loss_scale, poisson_loss

    recording = open_recording(path)
    key = recording.key
    model = initial_model(path, seed)
    img = recording.statistics("images")
    img_mean, img_std = float(np.mean(img["mean"])), float(np.mean(img["std"]))
    scale = response_scale(recording.statistics("responses")).astype(np.float32)

    class PerTrial(Dataset):
        def __init__(self, tier: str) -> None:
            self.indices = recording.tier_indices(tier)

        def __len__(self) -> int:
            return len(self.indices)

        def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
            i = self.indices[item]
            image = np.load(path / f"data/images/{i}.npy")
            image = resize(image, (1, 36, 64), order=1, anti_aliasing=True, preserve_range=True)
            responses = np.load(path / f"data/responses/{i}.npy") / scale
            return {
                "images": torch.from_numpy(((image - img_mean) / img_std).astype(np.float32)),
                "responses": torch.from_numpy(responses.astype(np.float32)),
            }

    generator = torch.Generator().manual_seed(seed)
    train_set = PerTrial("train")
    train = DataLoader(train_set, batch_size=BATCH, shuffle=True, generator=generator)
    validation = DataLoader(PerTrial("validation"), batch_size=BATCH)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)  # type: ignore[attr-defined]
    times, scores = [], []
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()  # type: ignore[attr-defined]
        for batch in train:
            prediction = model(batch, key)  # type: ignore[operator]
            loss = poisson_loss(prediction, batch["responses"]) * loss_scale(
                len(train_set), len(batch["images"])
            )
            loss = loss + model.regularizer(key)  # type: ignore[attr-defined]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()  # type: ignore[attr-defined]
        predictions, targets = [], []
        with torch.no_grad():
            for batch in validation:
                predictions.append(model(batch, key).numpy())  # type: ignore[operator]
                targets.append(batch["responses"].numpy())
        score = correlation(np.concatenate(predictions), np.concatenate(targets))
        scores.append(float(np.nanmean(np.nan_to_num(score))))
        times.append(time.perf_counter() - start)
    return {"epoch_seconds": times, "validation_correlation": scores}


def neurotwin_recipe(path: Path, epochs: int, seed: int, compile: bool) -> dict[str, object]:
    """Neurotwin's trainer on the cached loaders."""
    from neurotwin.data import static_loaders
    from neurotwin.train import TrainConfig, train

    model = initial_model(path, seed)
    start = time.perf_counter()
    loaders = static_loaders(path, BATCH, tiers=["train", "validation"], progress=False)
    setup = time.perf_counter() - start
    config = TrainConfig(
        max_epochs=epochs, seed=seed, device="cpu", compile=compile, progress=False, patience=99
    )
    result = train(model, loaders, config, out=None, log=None)  # type: ignore[arg-type]
    history = [h for h in result.history if h["epoch"] > 0]
    return {
        "epoch_seconds": [h["seconds"] for h in history],
        "validation_correlation": [h["validation_correlation"] for h in history],
        "cache_setup_seconds": setup,
    }


def variant(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    if args.variant == "kit_recipe":
        result = kit_recipe(args.data, args.epochs, args.seed)
    else:
        compile = args.variant == "neurotwin_compiled"
        result = neurotwin_recipe(args.data, args.epochs, args.seed, compile)
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def run_variant(name: str, args: argparse.Namespace, data: Path) -> dict[str, object]:
    command = [sys.executable, __file__, "--variant", name, "--data", str(data)]
    command += ["--epochs", str(args.epochs), "--seed", str(args.seed)]
    command += ["--threads", str(args.threads)]
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    seconds = result["epoch_seconds"]
    assert isinstance(seconds, list)
    result["mean_epoch_seconds"] = float(np.mean(seconds))
    result["steady_epoch_seconds"] = float(np.mean(seconds[1:] if len(seconds) > 1 else seconds))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--preset", default="demo", help="simulator preset of the recording")
    parser.add_argument("--data", type=Path, default=None, help="folder to simulate into/reuse")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        variant(args)
        return
    folder = args.data or Path(tempfile.mkdtemp(prefix="neurotwin-train-speed-"))
    data = simulated(folder, args.preset)
    names = ["kit_recipe", "neurotwin"] + (["neurotwin_compiled"] if args.compile else [])
    results = {name: run_variant(name, args, data) for name in names}
    kit = results["kit_recipe"]["steady_epoch_seconds"]
    summary = {
        "recording": str(data),
        "epochs": args.epochs,
        "threads": args.threads,
        "speedup": {
            name: kit / r["steady_epoch_seconds"]  # type: ignore[operator]
            for name, r in results.items()
            if name != "kit_recipe"
        },
        "final_validation_correlation": {
            name: r["validation_correlation"][-1]  # type: ignore[index]
            for name, r in results.items()
        },
        "variants": results,
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
