"""Neural regularisation on a simulated mouse, with every control trained the same way.

The twin is the shipped pretrained ``sensorium`` model of the simulator's ``demo`` mouse
(seed 0); the recording is simulated into ``--work`` (reused when already there). The
stimulus set is the simulator's natural images at the twin's 36 x 64 input size. Targets:

- ``neural``: the twin's predicted responses, neurons weighted by reliability (the
  recording's repeated test images) times prediction accuracy;
- ``true_rate``: the simulated mouse's true rates, same weights (the upper bound);
- ``single_trial``: one noisy simulated trial per stimulus, same weights;
- ``pixel``: pixel similarity; ``shuffled``: the neural target with its images permuted;
- ``none``: no penalty.

Each variant trains a small ResNet on the generated shapes task for every seed (one process
per run, one torch thread each, ``--workers`` at once) and is evaluated on the same test
images: clean accuracy, accuracy under Gaussian, uniform and salt-and-pepper noise, and the
median minimal adversarial perturbation (PGD with a bisection over the budget) in Linf and
L2. The JSON on stdout gives every variant's mean and standard error over seeds, the
agreement of each target with the true-rate one, the CPU seconds used, and a verdict on
whether the neural target beats the pixel and shuffled controls; ``--figure`` writes the
accuracy-versus-noise curves as a PNG.

    python benchmarks/neuroreg.py [--work DIR] [--seeds 3] [--workers 2] [--epochs 6]
        [--n-train 2500] [--n-test 500] [--n-stimuli 300] [--n-adversarial 40]
        [--alpha 10] [--figure docs/assets/neuroreg.png]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

VARIANTS = ("none", "neural", "shuffled", "pixel", "single_trial", "true_rate")
PRETRAINED = "sensorium"
PRESET, SIM_SEED = "demo", 0
HW = (36, 64)


def log(line: str) -> None:
    print(f"[neuroreg] {line}", file=sys.stderr, flush=True)


def make_targets(args: argparse.Namespace) -> tuple[np.ndarray, dict[str, np.ndarray], dict]:
    """Simulate (or reuse) the recording; return stimuli, targets and target diagnostics."""
    from neurotwin.data import open_recording
    from neurotwin.models import load_pretrained
    from neurotwin.neuroreg.experiment import natural_stimuli, twin_target
    from neurotwin.neuroreg.sources import (
        recording_weights,
        simulator_predictor,
        single_trial_responses,
        twin_predictor,
    )
    from neurotwin.neuroreg.target import pixel_target, shuffled_target, similarity_matrix
    from neurotwin.simulate import simulate_static
    from neurotwin.simulate.config import StaticConfig, make_config
    from neurotwin.simulate.static_mouse import StaticMouse

    (simulated,) = simulate_static(
        args.work / f"data-{PRESET}", preset=PRESET, seed=SIM_SEED, reuse=True
    )
    recording = open_recording(simulated.path)
    stimuli = natural_stimuli(args.n_stimuli, HW, seed=SIM_SEED)
    log(f"recording {recording.name}; {len(stimuli)} stimuli")
    neural = twin_target([PRETRAINED], [simulated.path], stimuli, args.work / "neural.npz")
    predict = twin_predictor(load_pretrained(PRETRAINED), recording)
    weights = recording_weights(predict, recording, HW)
    config = make_config("static", PRESET)
    assert isinstance(config, StaticConfig)
    mouse = StaticMouse(config, SIM_SEED, 0)
    targets = {
        "neural": neural.matrix,
        "shuffled": shuffled_target(neural.matrix, seed=1),
        "pixel": pixel_target(stimuli),
        "single_trial": similarity_matrix(single_trial_responses(mouse, stimuli), weights),
        "true_rate": similarity_matrix(simulator_predictor(mouse)(stimuli), weights),
    }
    upper = np.triu_indices(len(stimuli), 1)
    truth = targets["true_rate"][upper]
    agreement = {
        name: float(np.corrcoef(matrix[upper], truth)[0, 1]) for name, matrix in targets.items()
    }
    diagnostics = {
        "correlation_with_true_rate_target": agreement,
        "neurons_weighted": int((weights > 0).sum()),
        "neurons": len(weights),
    }
    return stimuli, targets, diagnostics


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """Train and evaluate one variant and seed (in a worker process, one thread)."""
    import torch

    from neurotwin.neuroreg.experiment import evaluate
    from neurotwin.neuroreg.train import TrainSettings, train_classifier

    torch.set_num_threads(1)
    start = time.process_time()
    settings = TrainSettings(epochs=job["epochs"], alpha=job["alpha"], seed=job["seed"])
    target = job["target"]
    result = train_classifier(
        job["images"], job["labels"], settings, n_classes=10,
        stimuli=job["stimuli"] if target is not None else None, target=target,
    )  # fmt: skip
    summary = evaluate(
        result.model, job["test_images"], job["test_labels"],
        n_adversarial=job["n_adversarial"], seed=job["seed"],
    )  # fmt: skip
    summary.update(
        variant=job["variant"], seed=job["seed"], layer_weights=result.layer_weights,
        final_cross_entropy=result.history["cross_entropy"][-1],
        cpu_seconds=time.process_time() - start,
    )  # fmt: skip
    return summary


def _adversarial(run: dict[str, Any], norm: str) -> float:
    """Return a run's median minimal perturbation (NaN where no attacked image was correct)."""
    value = run["adversarial"][norm]
    return float("nan") if value is None else float(value)


def mean_sem(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    sem = float(a.std(ddof=1) / np.sqrt(len(a))) if len(a) > 1 else float("nan")
    return {"mean": float(a.mean()), "sem": sem}


def summarise(runs: list[dict[str, Any]], variants: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for variant in variants:
        mine = [r for r in runs if r["variant"] == variant]
        kinds = mine[0]["noise"].keys()
        out[variant] = {
            "clean_accuracy": mean_sem([r["clean_accuracy"] for r in mine]),
            "noise": {
                kind: [
                    mean_sem(list(col))
                    for col in zip(*(r["noise"][kind] for r in mine), strict=True)
                ]
                for kind in kinds
            },
            "mean_noisy_accuracy": mean_sem([_noisy_mean(r) for r in mine]),
            "adversarial_median": {
                norm: mean_sem([_adversarial(r, norm) for r in mine]) for norm in ("linf", "l2")
            },
            "layer_weights": [r["layer_weights"] for r in mine],
        }
    return out


def _noisy_mean(run: dict[str, Any]) -> float:
    """Mean accuracy over every noise kind and every non-zero strength."""
    return float(np.mean([acc for curve in run["noise"].values() for acc in curve[1:]]))


def verdict(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Neural minus each control (mean over seeds, with a standard error), and 'beats'."""
    metrics = {
        "mean_noisy_accuracy": _noisy_mean,
        "adversarial_linf": lambda r: _adversarial(r, "linf"),
        "adversarial_l2": lambda r: _adversarial(r, "l2"),
    }
    out: dict[str, Any] = {}
    neural = [r for r in runs if r["variant"] == "neural"]
    for control in ("pixel", "shuffled", "none"):
        other = [r for r in runs if r["variant"] == control]
        row = {}
        for name, get in metrics.items():
            a = np.array([get(r) for r in neural])
            b = np.array([get(r) for r in other])
            diff = float(a.mean() - b.mean())
            se = float(np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b)))
            row[name] = {"difference": diff, "se": se, "beats": bool(diff > 2 * se)}
        out[f"neural_vs_{control}"] = row
    return out


def figure(summary: dict[str, Any], levels: list[float], path: Path) -> None:
    """Plot accuracy against noise strength, one panel per noise kind, one line per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = {"gaussian": "Gaussian (SD)", "uniform": "uniform (half-width)",
              "salt_pepper": "salt and pepper (fraction)"}  # fmt: skip
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True)
    for ax, (kind, title) in zip(axes, titles.items(), strict=True):
        for variant in summary:
            curve = summary[variant]["noise"][kind]
            ax.errorbar(
                levels, [c["mean"] for c in curve], yerr=[c["sem"] for c in curve],
                label=variant, marker="o", ms=3, capsize=2,
            )  # fmt: skip
        ax.set_title(title)
        ax.set_xlabel("noise strength (pixels in [0, 1])")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy (mean ± SEM over seeds)")
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    tmp.replace(path)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("neuroreg-benchmark"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--n-train", type=int, default=2500)
    parser.add_argument("--n-test", type=int, default=500)
    parser.add_argument("--n-stimuli", type=int, default=300)
    parser.add_argument("--n-adversarial", type=int, default=40)
    parser.add_argument("--alpha", type=float, default=10.0)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--figure", type=Path, default=None)
    args = parser.parse_args()
    wall = time.time()
    from neurotwin.neuroreg.tasks import shapes_dataset

    stimuli, targets, diagnostics = make_targets(args)
    images, labels = shapes_dataset(args.n_train, HW, seed=100)
    test_images, test_labels = shapes_dataset(args.n_test, HW, seed=101)
    setup_seconds = time.process_time()
    jobs = [
        {
            "variant": v,
            "seed": s,
            "epochs": args.epochs,
            "alpha": args.alpha,
            "images": images,
            "labels": labels,
            "stimuli": stimuli,
            "test_images": test_images,
            "test_labels": test_labels,
            "target": targets.get(v),
            "n_adversarial": args.n_adversarial,
        }
        for s in range(args.seeds)
        for v in args.variants
    ]
    runs = []
    with ProcessPoolExecutor(args.workers) as pool:
        for run in pool.map(run_one, jobs):
            log(
                f"{run['variant']} seed {run['seed']}: clean {run['clean_accuracy']:.3f}, "
                f"noisy {_noisy_mean(run):.3f}, Linf {_adversarial(run, 'linf'):.4f}, "
                f"L2 {_adversarial(run, 'l2'):.3f} ({run['cpu_seconds']:.0f} s CPU)"
            )
            runs.append(run)
    summary = summarise(runs, args.variants)
    levels = runs[0]["noise_levels"]
    if args.figure is not None:
        figure(summary, levels, args.figure)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = setup_seconds + children.ru_utime + children.ru_stime
    report = {
        "benchmark": "neuroreg",
        "twin": {"pretrained": PRETRAINED, "simulator_preset": PRESET, "seed": SIM_SEED},
        "task": {
            "name": "shapes",
            "classes": 10,
            "size": list(HW),
            "n_train": args.n_train,
            "n_test": args.n_test,
        },
        "settings": {
            "seeds": args.seeds,
            "epochs": args.epochs,
            "alpha": args.alpha,
            "n_stimuli": args.n_stimuli,
            "n_adversarial": args.n_adversarial,
            "workers": args.workers,
            "torch_threads_per_worker": 1,
        },
        "noise_levels": levels,
        "targets": diagnostics,
        "variants": summary,
        "verdict": verdict(runs)
        if {"neural", "pixel", "shuffled", "none"} <= set(args.variants)
        else None,
        "cpu_seconds": cpu,
        "wall_seconds": time.time() - wall,
    }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
