"""Fixtures shared by every test package."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tiny import write_static, write_video


@pytest.fixture
def static_path(tmp_path: Path) -> Path:
    return write_static(tmp_path / "rec")


@pytest.fixture
def video_path(tmp_path: Path) -> Path:
    return write_video(tmp_path / "rec")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never let a test write into the user's real cache folder."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("NEUROTWIN_CACHE_DIR", str(cache))
    return cache


#: Two small simulated video mice (tiny preset, smaller still): 12 neurons, 12 x 20 frames,
#: trials of 56-60 frames; 4 training trials, 1 oracle video shown twice, 1 video shown
#: twice in each main test tier, the 5 out-of-domain classes once each in the bonus tiers.
SMALL_VIDEO_MICE: dict[str, Any] = {
    "neurons": 12,
    "height": 12,
    "width": 20,
    "min_frames": 56,
    "max_frames": 60,
    "train": 4,
    "oracle_videos": 1,
    "oracle_repeats": 2,
    "test_videos": 1,
}


@pytest.fixture(scope="session")
def video_mice(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two simulated video mice with their truth folders (every tier's responses known)."""
    from neurotwin.simulate import simulate_video

    root = tmp_path_factory.mktemp("video-mice")
    return [Path(r.path) for r in simulate_video(root, "tiny", seed=3, mice=2, **SMALL_VIDEO_MICE)]


@pytest.fixture(scope="session")
def video_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder shared by the tests of :func:`video_mice`."""
    return tmp_path_factory.mktemp("video-cache")
