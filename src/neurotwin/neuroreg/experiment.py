"""The pieces of a neural-regularisation experiment shared by the command line and benchmark.

:func:`natural_stimuli` makes the stimulus set (the simulator's natural images at a twin's
size), :func:`twin_target` the neural target of one or more trained twins with its
provenance, :func:`load_matching_target` reads a target file and checks it was made from the
stimuli given, and :func:`evaluate` measures a trained classifier's robustness.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from neurotwin.neuroreg.errors import NeuroregError
from neurotwin.neuroreg.robustness import (
    NOISE_LEVELS,
    minimal_perturbations,
    noise_curves,
    predict_labels,
)
from neurotwin.neuroreg.sources import recording_weights, twin_predictor
from neurotwin.neuroreg.target import average_similarity, check_stimuli, stimulus_hash
from neurotwin.neuroreg.target_cache import (
    SimilarityTarget,
    cached_target,
    load_target,
    model_file_hash,
)
from neurotwin.neuroreg.train import as_tensor

#: Stimulus ids of :func:`natural_stimuli` start here (clear of any recording's ids).
STIMULUS_BASE = 5 * 10**8
#: Natural images are rendered at this multiple of the stimulus size, then block-averaged.
RENDER_FACTOR = 4


def natural_stimuli(n: int, hw: tuple[int, int] = (36, 64), seed: int = 0) -> np.ndarray:
    """Render the simulator's natural images as a stimulus set, at a twin's input size.

    Parameters
    ----------
    n
        Number of images.
    hw
        Height and width (a twin's input size).
    seed
        The simulation seed (the same source images as that seed's mice).

    Returns
    -------
    numpy.ndarray
        ``(n, H, W)`` uint8.
    """
    from neurotwin.simulate.stimuli import downsample, natural_image

    if n < 2:
        raise NeuroregError(f"a stimulus set needs at least 2 images, got {n}")
    h, w = hw
    big = np.stack(
        [
            natural_image(seed, STIMULUS_BASE + i, h * RENDER_FACTOR, w * RENDER_FACTOR)
            for i in range(n)
        ]
    )
    return np.clip(np.rint(downsample(big, h, w)), 0, 255).astype(np.uint8)


def twin_target(
    models: Sequence[str | os.PathLike[str]],
    recordings: Sequence[str | os.PathLike[str]],
    stimuli: np.ndarray,
    path: str | os.PathLike[str],
) -> SimilarityTarget:
    """Compute the neural target of trained twins, cached at ``path`` with its provenance.

    Each twin predicts its recording's responses to the stimuli; neurons are weighted by
    reliability times prediction accuracy
    (:func:`~neurotwin.neuroreg.target.recording_weights`) and the similarity matrices are
    averaged over recordings.

    Parameters
    ----------
    models
        One model spec per recording (a file, a run folder or a pretrained name).
    recordings
        The recordings the twins were trained on (with responses in their test tiers).
    stimuli
        ``(N, H, W)`` uint8 at the twins' input size.
    path
        The cache file.

    Returns
    -------
    SimilarityTarget
        The cached or new target.

    Raises
    ------
    NeuroregError
        When the counts differ, a twin was trained at another size than the stimuli, or
        the cache was made from other models or stimuli.
    """
    from neurotwin.data import open_recording
    from neurotwin.models import resolve_model

    check_stimuli(stimuli)
    if len(models) != len(recordings) or not models:
        raise NeuroregError(
            f"give one model per recording: got {len(models)} model(s) and "
            f"{len(recordings)} recording(s)"
        )
    hashes = {f"{i}:{spec}": model_file_hash(spec) for i, spec in enumerate(models)}
    provenance = {
        "source": "twin",
        "stimuli": stimulus_hash(stimuli),
        "models": hashes,
        "recordings": [str(r) for r in recordings],
        "stimulus_hw": list(stimuli.shape[1:]),
    }

    def build() -> np.ndarray:
        responses, weights = [], []
        hw = (int(stimuli.shape[1]), int(stimuli.shape[2]))
        for spec, where in zip(models, recordings, strict=True):
            predict = twin_predictor(resolve_model(spec), open_recording(where))
            responses.append(predict(stimuli))
            weights.append(recording_weights(predict, open_recording(where), hw))
        return average_similarity(responses, weights)

    return cached_target(path, provenance, build)


def load_matching_target(path: str | os.PathLike[str], stimuli: np.ndarray) -> SimilarityTarget:
    """Read a target file and check it was made from these stimuli.

    Raises
    ------
    NeuroregError
        When the file's stimulus hash or matrix size differs from ``stimuli``.
    """
    target = load_target(path)
    made_from = target.provenance.get("stimuli")
    if made_from != stimulus_hash(stimuli):
        raise NeuroregError(
            f"{Path(path)}: the target was made from other stimuli than the ones given "
            f"(target {str(made_from)[:12]}, given {stimulus_hash(stimuli)[:12]})"
        )
    if target.matrix.shape != (len(stimuli), len(stimuli)):
        raise NeuroregError(
            f"{Path(path)}: matrix {target.matrix.shape} for {len(stimuli)} stimuli"
        )
    return target


def evaluate(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    n_adversarial: int = 100,
    levels: tuple[float, ...] = NOISE_LEVELS,
    steps: int = 10,
    bisections: int = 8,
    seed: int = 0,
) -> dict[str, Any]:
    """Clean accuracy, accuracy under noise and median minimal adversarial perturbations.

    Parameters
    ----------
    model
        The classifier.
    images, labels
        Test images ``(N, H, W)`` uint8 and classes.
    n_adversarial
        The first this many test images are attacked.
    levels
        Noise strengths.
    steps, bisections
        PGD steps per budget and halvings of the budget interval.
    seed
        Seeds the noise.

    Returns
    -------
    dict
        ``clean_accuracy``, ``noise_levels``, ``noise`` (``{kind: accuracies}``) and
        ``adversarial`` (``{"linf": median, "l2": median}`` over the correctly classified
        attacked images; inf when PGD failed on more than half of them; None when none of
        them is classified correctly, as the median of no images is undefined).
    """
    clean = float((predict_labels(model, as_tensor(images)).numpy() == labels).mean())
    adversarial: dict[str, float | None] = {}
    for norm in ("linf", "l2"):
        d = minimal_perturbations(
            model, images[:n_adversarial], labels[:n_adversarial], norm,
            steps=steps, bisections=bisections,
        )  # fmt: skip
        attacked = d[d > 0]
        adversarial[norm] = float(np.median(attacked)) if len(attacked) else None
    return {
        "clean_accuracy": clean,
        "noise_levels": list(levels),
        "noise": noise_curves(model, images, labels, levels, seed),
        "adversarial": adversarial,
    }
