"""Fixtures of the model tests."""

from __future__ import annotations

import pytest

from model_helpers import make_batch, make_info
from neurotwin.models import RecordingInfo


@pytest.fixture
def infos() -> dict[str, RecordingInfo]:
    """Two recordings: one with cortical coordinates, one without."""
    return {"1-2-3": make_info("1-2-3", 6), "4-5-6": make_info("4-5-6", 4, coords=False, seed=1)}


@pytest.fixture
def batch() -> dict:
    return make_batch()
