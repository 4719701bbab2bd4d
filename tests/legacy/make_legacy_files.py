"""Write the legacy files of ``tests/legacy/v0.1/``: RUN ONCE, NEVER REGENERATE.

These files pin the on-disk formats of neurotwin 0.1 (saved models and ensembles, training
run folders, ground-truth files, 2022 and 2023 submissions). ``test_legacy_files.py`` loads
them with today's code and checks that they still predict and score what ``expected.json``
recorded when they were written. Regenerating them with newer code would hide exactly the
break they exist to catch, so the script refuses to write into a non-empty folder; a new
format version gets a new folder (``v0.2/``) beside this one, written by a copy of this script.

The files were written by::

    .venv/bin/python tests/legacy/make_legacy_files.py tests/legacy/v0.1

and ``expected.json`` records the neurotwin commit the script ran on.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurotwin.cli import main as cli_main
from neurotwin.data import static_loaders
from neurotwin.models import Ensemble, create_model, recording_infos, save_model
from neurotwin.scoring.scorer import score
from neurotwin.scoring.submission import VideoPredictions, write_submission
from neurotwin.scoring.truth_file import load_truth
from neurotwin.simulate import simulate_static, simulate_video
from neurotwin.submit import make_submission
from neurotwin.train import TrainConfig, fit

#: Inputs of the expected predictions: this many test trials of the static recording.
N_TRIALS = 4
#: A small core keeps every model file well under a megabyte.
MODEL = "sensorium+"
MODEL_CONFIG: dict[str, Any] = {"hidden_channels": 8}
STATIC = {"neurons": 12, "train": 24, "validation": 8, "test_images": 4, "test_repeats": 2}
VIDEO = {"neurons": 6, "train": 2, "oracle_videos": 1, "oracle_repeats": 2, "test_videos": 1}


def _commit() -> str:
    """The commit of the repository, ``+dirty`` when ``src/`` holds uncommitted changes."""
    root = Path(__file__).resolve().parents[2]
    git = ["git", "-C", str(root)]
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    dirty = subprocess.run([*git, "status", "--porcelain", "--", "src"], capture_output=True)
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def _predict(model: torch.nn.Module, inputs: dict[str, np.ndarray], key: str) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        batch = {k: torch.from_numpy(v) for k, v in inputs.items()}
        return model(batch, key).numpy()


def _scores(report: Any) -> dict[str, Any]:
    return {
        phase: {name: m.value for name, m in p.metrics.items()}
        for phase, p in report.phases.items()
    }


def main(dest: Path) -> None:
    """Write every legacy file into ``dest`` (which must be empty or absent)."""
    if dest.exists() and any(dest.iterdir()):
        sys.exit(f"{dest} is not empty: legacy files are written once and never regenerated")
    dest.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    expected: dict[str, Any] = {"neurotwin_commit": _commit(), "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        cache = tmp / "cache"
        (rec,) = simulate_static(tmp / "data", preset="tiny", seed=0, **STATIC)
        loaders = static_loaders(
            rec.path,
            N_TRIALS,
            include_behavior=True,
            include_eye_position=True,
            tiers=["test"],
            shuffle=False,
            cache_dir=cache,
            progress=False,
        )
        key = next(iter(loaders["test"]))
        batch = next(iter(loaders["test"][key]))
        inputs = {
            k: v.numpy() for k, v in batch.items() if k in ("images", "behavior", "pupil_center")
        }
        np.savez(dest / "inputs.npz", **inputs)
        expected["key"] = key

        # a training run folder: fit for one epoch
        config = TrainConfig(max_epochs=1, seed=0, device="cpu", progress=False)
        trained = fit(
            rec.path, MODEL, dest / "run", config, cache_dir=cache, log=None, **MODEL_CONFIG
        )
        (dest / "run" / ".lock").unlink(missing_ok=True)
        expected["run"] = _predict(trained.model, inputs, key).tolist()

        # a model and an ensemble of two, freshly initialised with fixed seeds
        infos = recording_infos([rec.path], (36, 64))
        members = []
        for seed in (1, 2):
            torch.manual_seed(seed)
            members.append(create_model(MODEL, infos, **MODEL_CONFIG))
        save_model(members[0], dest / "model.pt")
        expected["model"] = _predict(members[0], inputs, key).tolist()
        ensemble = Ensemble(members)
        save_model(ensemble, dest / "ensemble.pt")
        expected["ensemble"] = _predict(ensemble, inputs, key).tolist()

        # static ground truth through the command line, and a 2022 submission of the run's model
        truth = dest / "truth-sensorium+.npz"
        argv = ["make-truth", "--track", "sensorium+", "--recording", str(rec.path)]
        if cli_main([*argv, "--out", str(truth)]) != 0:
            sys.exit("make-truth failed (static)")
        make_submission(
            trained.model, rec.path, "sensorium+", dest / "submission-2022", cache_dir=cache
        )
        expected["score_2022"] = _scores(score("sensorium+", truth, dest / "submission-2022"))

        # video ground truth and a 2023 parquet zip of noisy true responses
        (vid,) = simulate_video(tmp / "video", preset="tiny", seed=0, **VIDEO)
        vtruth = dest / "truth-video-main.npz"
        argv = ["make-truth", "--track", "video-main", "--recording", str(vid.path)]
        if cli_main([*argv, "--out", str(vtruth)]) != 0:
            sys.exit("make-truth failed (video)")
        loaded = load_truth(vtruth)
        rng = np.random.default_rng(0)
        predictions = {}
        for phase, tier in (("live", "live_test_main"), ("final", "final_test_main")):
            mouse = loaded.mice[0]
            t = mouse.tiers[tier]
            values = []
            for k in range(t.n_trials):
                row = t.responses[k, :, : int(t.n_frames[k])]
                values.append((row + rng.normal(size=row.shape)).astype(np.float32))
            predictions[phase] = VideoPredictions(
                np.array([mouse.name] * t.n_trials),
                t.trial_ids,
                {mouse.name: mouse.unit_ids},
                values,
            )
        write_submission("video-main", dest / "submission-2023.zip", predictions)
        expected["score_2023"] = _scores(score("video-main", vtruth, dest / "submission-2023.zip"))
    (dest / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "v0.1")
