"""Seconds per training epoch of neurotwin's models against their compute floor and the 2022 kit.

For every model named by ``--models`` (``sensorium``, ``sensorium+``, ``video-gru``,
``video-3d``, ``video-dwise``; a name not registered in this version is skipped with a note),
in a fresh subprocess each, on the same simulated recording (static models: a static one of
``--preset``, ``--neurons`` and ``--train`` overriding its size; video models: a video one of
``--video-preset``):

- ``epoch_seconds``: neurotwin's trainer with ``neurotwin.train.fit``'s loaders and recipe,
  ``--epochs`` epochs, each one training pass plus one validation pass;
- ``floor_epoch_seconds``: the compute floor, the same model on random in-memory tensors of
  the same batch shapes: forward + backward + optimiser step of a training batch and a
  forward pass of a validation batch, each scaled by the tier's trials over the batch's;
- ``epoch_over_floor``: their ratio (goal: 1.3 or less);
- ``profile_step_seconds``: seconds of each part of a training step, measured by cutting the
  graph at the core's and the shifter's outputs (forward hooks): ``data`` (next batch, to
  the device), ``core``, ``shifter``, ``readout`` (with the output nonlinearity), ``loss``
  (with the regulariser), ``optimiser``, forward and backward each; ``profile_fraction``
  gives each part's share.

For ``sensorium`` the 2022 kit's recipe runs too (``kit_recipe``; skip with ``--no-kit``):
one ``np.load`` per trial file and a per-sample resize of each image to 36x64 inside the
dataset, the default (contiguous) memory format, the readout's ``grid_sample``, glibc's
default malloc, a plain loop (Poisson loss scaled by sqrt(n / batch) plus the regulariser,
Adam, lr 0.009, batch 128) and a per-sample validation loader, from the same initial
weights; ``speedup_vs_kit`` is its steady epoch over neurotwin's, next to both validation
correlations ("at equal score").

``--time-to-kit`` instead measures the time to reach the kit's score on a recording of the
kit's size (``--preset`` with ``--kit-neurons`` 1,000 neurons and ``--kit-train`` 3,000
training images): the kit's
recipe and neurotwin's trainer each run ``--kit-epochs`` epochs (25) and give their curves
(cumulative seconds and validation correlation per epoch); the summary gives the first time
neurotwin's validation correlation reaches the kit's last one, and its fraction of the kit's
wall time (goal: under 1/3).

The run's settings (threads, batch size, compile, channels_last, whether glibc kept freed
memory: ``--no-keep-freed-memory`` measures neurotwin without it) are in the JSON. Each
variant runs in a fresh subprocess so its peak memory is its own. Prints JSON.

    python benchmarks/train_speed.py [--models sensorium,sensorium+] [--epochs 2]
        [--preset demo] [--video-preset tiny] [--data DIR] [--threads 2] [--compile]
    python benchmarks/train_speed.py --models sensorium --preset tiny --neurons 8000 --no-kit
    python benchmarks/train_speed.py --time-to-kit [--kit-epochs 25]
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
from typing import Any

import numpy as np

BATCH = 128
LR = 0.009
#: Models of the issue, in order; the ones not registered here are skipped with a note.
MODELS = ("sensorium", "sensorium+", "video-gru", "video-3d", "video-dwise")
#: Training steps timed part by part and on random tensors (after one warm-up step).
PROFILE_STEPS = 4


def simulated(data: Path, preset: str, **overrides: Any) -> Path:
    from neurotwin.simulate import simulate_static

    (recording,) = simulate_static(data, preset=preset, seed=0, reuse=True, **overrides)
    return recording.path


def simulated_video(data: Path, preset: str) -> Path:
    from neurotwin.simulate import simulate_video

    (recording,) = simulate_video(data, preset=preset, seed=0, reuse=True)
    return recording.path


def initial_model(path: Path, seed: int) -> object:
    import torch

    from neurotwin.models import create_model, recording_infos

    torch.manual_seed(seed)
    return create_model("sensorium", recording_infos([path], (36, 64)))


def use_kit_readout() -> None:
    """Make the Gaussian readouts of this process read features as the kit did.

    The kit's ``FullGaussian2d`` reads with ``grid_sample`` and weights the ``(B, C, n)``
    result; neurotwin's readout computes the same function with a fused kernel on the CPU.
    """
    from neurotwin.models import readout_kernel, readouts

    readouts.sample_and_weight = readout_kernel.read_with_grid_sample


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
    use_kit_readout()
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


def neurotwin_recipe(
    path: Path, epochs: int, seed: int, compile: bool, keep_memory: bool
) -> dict[str, object]:
    """Neurotwin's trainer on the cached loaders."""
    import torch

    from neurotwin.data import static_loaders
    from neurotwin.train import TrainConfig, train

    model = initial_model(path, seed)
    start = time.perf_counter()
    loaders = static_loaders(path, BATCH, tiers=["train", "validation"], progress=False)
    setup = time.perf_counter() - start
    config = TrainConfig(
        max_epochs=epochs,
        seed=seed,
        device="cpu",
        compile=compile,
        progress=False,
        patience=99,
        keep_freed_memory=keep_memory,
    )
    result = train(model, loaders, config, out=None, log=None)  # type: ignore[arg-type]
    history = [h for h in result.history if h["epoch"] > 0]
    return {
        "epoch_seconds": [h["seconds"] for h in history],
        "validation_correlation": [h["validation_correlation"] for h in history],
        "cache_setup_seconds": setup,
        "keep_freed_memory": freed_memory_kept(config, torch.device("cpu")),
    }


class PartTimer:
    """Cut a model's graph at the core's and the shifters' outputs to time each part.

    Forward hooks stamp the clock around the core and the shifter and hand the rest of the
    model their outputs detached (leaves that collect gradients), so one training step can
    run backward part by part (loss, readout, shifter, core) with the gradients of a single
    ``backward``.
    """

    def __init__(self, model: Any, sync: Any) -> None:
        self.sync = sync
        self.graph: dict[str, Any] = {}
        self.leaf: dict[str, Any] = {}
        self.stamps: dict[str, float] = {}
        parts = [("core", model.core)]
        parts += [("shifter", s) for s in (getattr(model, "shifters", None) or {}).values()]
        self.handles = []
        for part, module in parts:
            self.handles.append(module.register_forward_pre_hook(self._before(part)))
            self.handles.append(module.register_forward_hook(self._after(part)))

    def _before(self, part: str) -> Any:
        def hook(module: Any, inputs: Any) -> None:
            self.stamps[part + "_start"] = self.sync()

        return hook

    def _after(self, part: str) -> Any:
        def hook(module: Any, inputs: Any, output: Any) -> Any:
            self.stamps[part + "_end"] = self.sync()
            self.graph[part] = output
            self.leaf[part] = output.detach().requires_grad_(True)
            return self.leaf[part]

        return hook

    def remove(self) -> None:
        """Take the hooks off the model."""
        for handle in self.handles:
            handle.remove()


def clock(device: Any) -> Any:
    """Return a clock that first waits for the device's queued work (CUDA runs asynchronously)."""
    import torch

    def now() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter()

    return now


def profiled_step(
    model: Any,
    task: Any,
    batch: dict,
    key: str,
    n_train: int,
    optimizer: Any,
    sync: Any,
    autocast: Any,
) -> dict[str, float]:
    """Run one training step part by part; return each part's seconds (forward + backward)."""
    timer = PartTimer(model, sync)
    try:
        start = sync()
        with autocast():
            prediction = model(batch, key)
        forward_end = sync()
        cut = prediction.float().detach().requires_grad_(True)
        loss = task.loss(cut, batch, n_train) + model.regularizer(key)
        loss.backward()
        loss_end = sync()
        prediction.float().backward(cut.grad)
        readout_end = sync()
        if "shifter" in timer.graph:
            timer.graph["shifter"].backward(timer.leaf["shifter"].grad)
        shifter_end = sync()
        timer.graph["core"].backward(timer.leaf["core"].grad)
        core_end = sync()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step_end = sync()
    finally:
        timer.remove()
    stamps = timer.stamps
    shifter_forward = stamps.get("shifter_end", 0.0) - stamps.get("shifter_start", 0.0)
    return {
        "core": (stamps["core_end"] - start) + (core_end - shifter_end),
        "readout": (forward_end - stamps["core_end"] - shifter_forward) + (readout_end - loss_end),
        "shifter": shifter_forward + (shifter_end - readout_end),
        "loss": loss_end - forward_end,
        "optimiser": step_end - core_end,
    }


def random_like(batch: dict) -> dict:
    """Random tensors of a batch's shapes and dtypes (``length`` and ``index`` kept)."""
    import torch

    out = {}
    for name, value in batch.items():
        if name in ("index", "length") or not value.is_floating_point():
            out[name] = value.clone()
        elif name == "responses":
            out[name] = torch.rand_like(value)
        else:
            out[name] = torch.randn_like(value)
            if value.dim() == 4 and value.is_contiguous(memory_format=torch.channels_last):
                out[name] = out[name].contiguous(memory_format=torch.channels_last)
    return out


def window_of(model: str, frames: int) -> int:
    """Return the training window: ``frames`` for the baselines, a dwise model's own."""
    from neurotwin.models import default_config

    core = getattr(default_config(model), "core", None)
    return int(core.window_frames) if model.startswith("video-dwise") and core else frames


def model_speed(args: argparse.Namespace) -> dict[str, object]:
    """Epochs of neurotwin's trainer, the compute floor and a per-part profile of one model."""
    import contextlib

    import torch

    from neurotwin.train import TrainConfig, train
    from neurotwin.train.config import resolve_device
    from neurotwin.train.fitting import _prepare
    from neurotwin.train.optim import make_optimizer
    from neurotwin.train.prediction import to_device
    from neurotwin.train.tasks import task_for_model

    device = resolve_device(args.device)
    config = TrainConfig(
        max_epochs=args.epochs,
        seed=args.seed,
        device=args.device,
        compile=args.compile,
        progress=False,
        patience=99,
        batch_size=args.batch_size,
        num_threads=args.threads,
        window=window_of(args.model, args.frames),
        bf16=args.bf16,
        channels_last_3d=args.channels_last_3d,
        keep_freed_memory=not args.no_keep_freed_memory,
    )
    make, model, loaders, config = _prepare([args.data], args.model, config, None, None, {})
    key = next(iter(loaders["train"]))
    if device.type == "cuda":  # the allocator's statistics exist once CUDA is initialised
        torch.empty(1, device=device)
        torch.cuda.reset_peak_memory_stats(device)
    result = train(model, loaders, config, out=None, log=None)
    history = [h for h in result.history if h["epoch"] > 0]
    peak_gpu = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None

    torch.manual_seed(args.seed)
    fresh = make().to(device)
    video = fresh.stimulus_kind == "video"
    channels_last = config.channels_last and not video
    channels_last_3d = config.channels_last_3d and video and device.type == "cuda"
    if channels_last:
        fresh.to(memory_format=torch.channels_last)
    if channels_last_3d:
        fresh.to(memory_format=torch.channels_last_3d)
    task = task_for_model(fresh, config)
    optimizer = make_optimizer(fresh.parameters(), config)
    train_loader, val_loader = loaders["train"][key], loaders["validation"][key]
    n_train, n_val = len(train_loader.dataset), len(val_loader.dataset)  # type: ignore[arg-type]
    sync = clock(device)

    def autocast() -> Any:  # the trainer's mixed precision: bf16 on CUDA when asked for
        if config.bf16 and device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def on_device(batch: dict) -> dict:
        batch = to_device(batch, device, channels_last)
        if channels_last_3d:
            batch["videos"] = batch["videos"].contiguous(memory_format=torch.channels_last_3d)
        return batch

    fresh.train()
    parts: dict[str, list[float]] = {}
    batches = iter(train_loader)
    real = []
    for step in range(PROFILE_STEPS + 1):
        start = sync()
        try:
            batch = next(batches)
        except StopIteration:
            batches = iter(train_loader)
            batch = next(batches)
        batch = on_device(batch)
        data = sync() - start
        seconds = profiled_step(fresh, task, batch, key, n_train, optimizer, sync, autocast)
        seconds["data"] = data
        real.append(batch)
        if step:  # the first step warms up
            for part, value in seconds.items():
                parts.setdefault(part, []).append(value)
    profile = {part: float(np.median(values)) for part, values in parts.items()}
    step_total = sum(profile.values())

    # the compute floor: the same steps on random tensors held in memory
    full = max(real, key=lambda b: len(b["responses"]))
    fake = random_like(full)
    steps = []
    for step in range(PROFILE_STEPS + 1):
        start = sync()
        with autocast():
            prediction = fresh(fake, key)
        loss = task.loss(prediction.float(), fake, n_train) + fresh.regularizer(key)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step:
            steps.append(sync() - start)
    fresh.eval()
    val_fake = random_like(on_device(next(iter(val_loader))))
    val_steps = []
    with torch.no_grad():
        for step in range(3):
            start = sync()
            with autocast():
                fresh(val_fake, key)
            if step:
                val_steps.append(sync() - start)
    batch_trials = len(fake["responses"])
    val_trials = len(val_fake["responses"])
    floor = float(np.median(steps)) * n_train / batch_trials
    floor += float(np.median(val_steps)) * n_val / val_trials
    epochs = [h["seconds"] for h in history]
    steady = float(np.mean(epochs[1:] if len(epochs) > 1 else epochs))
    return {
        "epoch_seconds": epochs,
        "steady_epoch_seconds": steady,
        "validation_correlation": [h["validation_correlation"] for h in history],
        "floor_epoch_seconds": floor,
        "epoch_over_floor": steady / floor,
        "floor_step_seconds": float(np.median(steps)),
        "profile_step_seconds": profile,
        "profile_fraction": {part: value / step_total for part, value in profile.items()},
        "neurons": int(fake["responses"].shape[-1]),
        "batch_shape": {name: list(value.shape) for name, value in fake.items() if name != "index"},
        "train_trials": n_train,
        "validation_trials": n_val,
        "window_frames": config.window if video else None,
        "peak_gpu_memory_mib": peak_gpu,
        "settings": {
            "device": str(device),
            "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
            "threads": torch.get_num_threads(),
            "batch_size": config.batch_size,
            "channels_last": channels_last,
            "channels_last_3d": channels_last_3d,
            "bf16": bool(config.bf16 and device.type == "cuda"),
            "compile": config.compile,
            "keep_freed_memory": freed_memory_kept(config, device),
        },
    }


def freed_memory_kept(config: Any, device: Any) -> bool:
    """Whether the trainer made glibc keep freed memory in this process (it asks on a CPU)."""
    from neurotwin.train.allocator import keep_freed_memory

    return bool(config.keep_freed_memory and device.type == "cpu" and keep_freed_memory())


def time_to_kit(args: argparse.Namespace) -> None:
    """Curves of the kit's recipe and neurotwin on a recording of the kit's size."""
    folder = args.data or Path(tempfile.mkdtemp(prefix="neurotwin-train-speed-"))
    sizes = {"neurons": args.kit_neurons, "train": args.kit_train}
    data = simulated(folder / f"kit-size-{args.preset}", args.preset, **sizes)
    runs = {}
    for name in ("kit_recipe", "neurotwin"):
        runs[name] = run_variant(name, args, data, epochs=args.kit_epochs)
    failed = {name: r["error"] for name, r in runs.items() if "error" in r}
    if failed:
        print(json.dumps({"recording": str(data), "errors": failed}, indent=2))
        return
    curves = {
        name: {
            "seconds": np.cumsum(r["epoch_seconds"]).tolist(),
            "validation_correlation": r["validation_correlation"],
        }
        for name, r in runs.items()
    }
    target = curves["kit_recipe"]["validation_correlation"][-1]
    kit_seconds = curves["kit_recipe"]["seconds"][-1]
    reached = [
        t
        for t, score in zip(
            curves["neurotwin"]["seconds"],
            curves["neurotwin"]["validation_correlation"],
            strict=True,
        )
        if score >= target
    ]
    summary = {
        "recording": str(data),
        "neurons": args.kit_neurons,
        "train_images": args.kit_train,
        "epochs": args.kit_epochs,
        "threads": args.threads,
        "kit_score": target,
        "kit_seconds": kit_seconds,
        "neurotwin_seconds_to_kit_score": reached[0] if reached else None,
        "fraction_of_kit_time": reached[0] / kit_seconds if reached else None,
        "curves": curves,
    }
    print(json.dumps(summary, indent=2))


def variant(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    if args.variant == "kit_recipe":
        result = kit_recipe(args.data, args.epochs, args.seed)
    elif args.variant == "model":
        result = model_speed(args)
    else:
        compile = args.variant == "neurotwin_compiled"
        keep = not args.no_keep_freed_memory
        result = neurotwin_recipe(args.data, args.epochs, args.seed, compile, keep)
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def run_variant(
    name: str, args: argparse.Namespace, data: Path, epochs: int | None = None, model: str = ""
) -> dict[str, Any]:
    command = [sys.executable, __file__, "--variant", name, "--data", str(data)]
    command += ["--epochs", str(epochs or args.epochs), "--seed", str(args.seed)]
    command += ["--threads", str(args.threads), "--batch-size", str(args.batch_size)]
    command += ["--frames", str(args.frames)]
    command += ["--model", model] if model else []
    command += ["--compile"] if args.compile else []
    command += ["--device", args.device]
    command += ["--bf16"] if args.bf16 else []
    command += ["--channels-last-3d"] if args.channels_last_3d else []
    command += ["--no-keep-freed-memory"] if args.no_keep_freed_memory else []
    out = subprocess.run(command, check=False, capture_output=True, text=True)
    if out.returncode < 0:  # e.g. the kernel's out-of-memory killer (SIGKILL)
        signal = -out.returncode
        hint = " (out of memory?)" if signal == 9 else ""
        return {"error": f"killed by signal {signal}{hint}"}
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1]}
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    seconds = result["epoch_seconds"]
    result["mean_epoch_seconds"] = float(np.mean(seconds))
    result["steady_epoch_seconds"] = float(np.mean(seconds[1:] if len(seconds) > 1 else seconds))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated names")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--preset", default="demo", help="simulator preset (static models)")
    parser.add_argument("--neurons", type=int, help="static recording: neurons (preset's)")
    parser.add_argument("--train", type=int, help="static recording: training images")
    parser.add_argument("--video-preset", default="tiny", help="simulator preset (video)")
    parser.add_argument("--data", type=Path, default=None, help="folder to simulate into/reuse")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=BATCH)
    parser.add_argument(
        "--frames",
        type=int,
        default=80,
        help="the baselines' video training window (dwise: its own)",
    )
    parser.add_argument("--compile", action="store_true", help="train with torch.compile")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (models only)")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast on CUDA")
    parser.add_argument(
        "--channels-last-3d", action="store_true", help="video models in channels_last_3d on CUDA"
    )
    parser.add_argument(
        "--no-keep-freed-memory",
        action="store_true",
        help="neurotwin's trainer with glibc's default malloc (TrainConfig.keep_freed_memory)",
    )
    parser.add_argument("--no-kit", action="store_true", help="skip the kit's recipe")
    parser.add_argument("--time-to-kit", action="store_true", help="time to the kit's score")
    parser.add_argument("--kit-epochs", type=int, default=25)
    parser.add_argument("--kit-neurons", type=int, default=1000)
    parser.add_argument("--kit-train", type=int, default=3000)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        variant(args)
        return
    if args.time_to_kit:
        time_to_kit(args)
        return
    from neurotwin.models import default_config, list_models
    from neurotwin.models.video_twin import VideoTwinConfig

    folder = args.data or Path(tempfile.mkdtemp(prefix="neurotwin-train-speed-"))
    registered = set(list_models())
    names = [name.strip() for name in args.models.split(",") if name.strip()]
    skipped = {name: "not registered in this version" for name in names if name not in registered}
    data: dict[str, Path] = {}
    results: dict[str, Any] = {}
    overrides = {
        name: value
        for name, value in (("neurons", args.neurons), ("train", args.train))
        if value is not None
    }
    sizes = "-".join(f"{name}{value}" for name, value in overrides.items()) or "preset"
    for name in names:
        if name in skipped:
            continue
        kind = "video" if isinstance(default_config(name), VideoTwinConfig) else "static"
        if kind not in data:
            data[kind] = (
                simulated_video(folder / "video", args.video_preset)
                if kind == "video"
                else simulated(folder / f"static-{args.preset}-{sizes}", args.preset, **overrides)
            )
        results[name] = run_variant("model", args, data[kind], model=name)
        # each model's result as it comes, so that a run cut short keeps the finished ones
        print(json.dumps({name: results[name]}), file=sys.stderr, flush=True)
    summary: dict[str, Any] = {
        "recordings": {kind: str(path) for kind, path in data.items()},
        "static_overrides": overrides,
        "epochs": args.epochs,
        "threads": args.threads,
        "batch_size": args.batch_size,
        "compile": args.compile,
        "device": args.device,
        "bf16": args.bf16,
        "channels_last_3d": args.channels_last_3d,
        "models": results,
        "skipped": skipped,
    }
    if "sensorium" in results and not args.no_kit:
        kit = run_variant("kit_recipe", args, data["static"])
        summary["kit_recipe"] = kit
        ours = results["sensorium"]
        if "error" not in kit and "error" not in ours:
            summary["speedup_vs_kit"] = kit["steady_epoch_seconds"] / ours["steady_epoch_seconds"]
            summary["final_validation_correlation"] = {
                "kit_recipe": kit["validation_correlation"][-1],
                "sensorium": ours["validation_correlation"][-1],
            }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
