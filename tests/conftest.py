"""Fixtures shared by every test package."""

from __future__ import annotations

from pathlib import Path

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
