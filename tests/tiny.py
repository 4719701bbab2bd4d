"""Tiny recordings written through the real writer, shared by the tests of every package."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neurotwin.data import RecordingWriter

STATIC_NAME = "static11-2-3-GrayImageNet-" + "0123456789abcdef" * 2
VIDEO_NAME = "dynamic11-2-3-Video-" + "fedcba9876543210" * 2


def write_static(
    dest: Path,
    *,
    name: str = STATIC_NAME,
    n_neurons: int = 7,
    hw: tuple[int, int] = (16, 24),
    tiers: tuple[int, int, int, int] = (12, 4, 6, 6),
    as_zip: bool = False,
    seed: int = 0,
    hashed_ids: bool = False,
    withheld: bool = False,
    stats_subsets: tuple[str, ...] | None = None,
) -> Path:
    """Write a static recording with random but valid content; return its path."""
    rng = np.random.default_rng(seed)
    tier_names = np.repeat(["train", "validation", "test", "final_test"], tiers)
    n = len(tier_names)
    images = rng.integers(0, 256, (n, 1, *hw)).astype(np.float32)
    responses = rng.gamma(1.0, 1.0, (n, n_neurons)).astype(np.float32)
    test = np.isin(tier_names, ["test", "final_test"])
    if withheld:
        responses[test] = 0.0
    image_ids = np.arange(n)
    image_ids[test] = 1000 + np.arange(test.sum()) % 3  # repeats in the test tiers
    trial_idx = (
        np.array([f"{i:032x}" for i in rng.permutation(n)]) if hashed_ids else rng.permutation(n)
    )
    with RecordingWriter(dest, name, "static", tiers=tier_names, as_zip=as_zip) as writer:
        writer.write_trials(
            0,
            images=images,
            responses=responses,
            behavior=rng.random((n, 3)).astype(np.float32),
            pupil_center=rng.normal(size=(n, 2)).astype(np.float32),
        )
        writer.write_neurons(
            unit_ids=np.arange(n_neurons) + 100,
            cell_motor_coordinates=rng.random((n_neurons, 3)) * 500,
            area=np.array(["V1"] * n_neurons),
        )
        writer.write_trial_info(trial_idx=trial_idx, frame_image_id=image_ids)
        if stats_subsets is not None:
            stats = {"mean": np.float32(127.0), "std": np.float32(70.0)}
            writer.write_statistics("images", stats, subsets=stats_subsets)
    return writer.path


def write_video(
    dest: Path,
    *,
    name: str = VIDEO_NAME,
    n_neurons: int = 5,
    hw: tuple[int, int] = (6, 8),
    lengths: tuple[int, ...] = (12, 10, 9, 12, 11, 8),
    pad: int = 12,
    as_zip: bool = False,
    seed: int = 0,
) -> Path:
    """Write a NaN-padded video recording; return its path."""
    rng = np.random.default_rng(seed)
    tier_names = ["train"] * (len(lengths) - 2) + ["oracle", "live_test_main"]
    with RecordingWriter(
        dest, name, "video", tiers=tier_names, as_zip=as_zip, pad_frames=pad
    ) as writer:
        for i, t in enumerate(lengths):
            writer.write_trial(
                i,
                videos=rng.integers(0, 256, (*hw, t)).astype(np.float32),
                responses=rng.gamma(1.0, 1.0, (n_neurons, t)).astype(np.float32),
                behavior=rng.random((2, t)).astype(np.float32),
                pupil_center=rng.normal(size=(2, t)).astype(np.float32),
            )
        writer.write_neurons(
            unit_ids=np.arange(n_neurons), cell_motor_coordinates=rng.random((n_neurons, 3))
        )
        writer.write_trial_info(trial_idx=np.arange(len(lengths)))
    return writer.path
