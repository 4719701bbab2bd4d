"""Fixtures of the trainer's tests: a stand-in model and two kinds of small data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from neurotwin.data import static_loaders
from tiny import STATIC_NAME, write_static
from train.standin import StandIn, infos_of, make_standin

__all__ = ["StandIn", "infos_of", "make_standin"]

#: A second tiny recording (another key) so that interleaving is exercised.
OTHER_NAME = STATIC_NAME.replace("11-2-3", "11-2-4")


@pytest.fixture(scope="session")
def tiny_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two tiny random recordings (12 train, 4 validation trials, 7 neurons, 16 x 24)."""
    root = tmp_path_factory.mktemp("tiny")
    paths = [
        write_static(root / "a", hw=(16, 24)),
        write_static(root / "b", name=OTHER_NAME, seed=1, hw=(16, 24)),
    ]
    return {"paths": [str(p) for p in paths], "cache_dir": str(root / "cache")}


def tiny_loaders_for(tiny: dict[str, Any], batch_size: int = 4) -> Any:
    return static_loaders(
        tiny["paths"],
        batch_size,
        tiers=("train", "validation"),
        cache_dir=tiny["cache_dir"],
        progress=False,
    )


@pytest.fixture(scope="session")
def tiny_loaders(tiny_paths: dict[str, Any]) -> Any:
    return tiny_loaders_for(tiny_paths)


@pytest.fixture(scope="session")
def sim_loaders(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A small simulated mouse with a learnable signal (400 train, 100 validation, 30 neurons)."""
    from neurotwin.simulate import simulate_static

    root = tmp_path_factory.mktemp("sim")
    (recording,) = simulate_static(
        root,
        preset="tiny",
        seed=0,
        train=400,
        validation=100,
        neurons=30,
        test_images=2,
        test_repeats=2,
        noise_level=0.2,
    )
    return static_loaders(
        recording.path,
        32,
        tiers=("train", "validation"),
        cache_dir=root / "cache",
        progress=False,
    )


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "run"
