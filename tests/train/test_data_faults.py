"""A loss that turns NaN because of the data blames the data, not the learning rate."""

from __future__ import annotations

import os

import numpy as np
import pytest

from neurotwin.data import static_loaders
from neurotwin.train import TrainConfig, TrainingDiverged, train
from tiny import write_static
from train.standin import make_standin


def test_non_finite_data_names_the_recording_and_its_cache(tmp_path):
    path = write_static(tmp_path / "rec")
    cache_dir = tmp_path / "cache"
    loaders = static_loaders(
        path, 4, tiers=("train", "validation"), cache_dir=cache_dir, progress=False
    )
    (cache,) = [p for p in cache_dir.iterdir() if not p.name.startswith(".")]
    # damage the cache in place after it was checked (as bit rot or a stray write would)
    file = cache / "responses.npy"
    stamp = os.stat(file)
    responses = np.load(file, mmap_mode="r+")
    responses[:] = np.nan
    responses.flush()
    del responses
    os.utime(file, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    model = make_standin(loaders)
    config = TrainConfig(device="cpu", progress=False, batch_size=4, seed=1, max_epochs=1)
    with pytest.raises(TrainingDiverged) as info:
        train(model, loaders, config, tmp_path / "run", log=None)
    message = str(info.value)
    assert "responses" in message and "the data is at fault" in message
    assert str(cache) in message
    assert f"neurotwin cache {path} --scale 0.25 --cache-dir {cache_dir}" in message
    assert "learning rate (lr" not in message and "lower learning rate" not in message


def test_a_diverging_model_on_sound_data_still_suggests_a_lower_learning_rate(tmp_path):
    path = write_static(tmp_path / "rec")
    loaders = static_loaders(
        path, 4, tiers=("train", "validation"), cache_dir=tmp_path / "c", progress=False
    )
    model = make_standin(loaders)
    for parameter in model.parameters():
        parameter.data.fill_(float("inf"))
    config = TrainConfig(device="cpu", progress=False, batch_size=4, seed=1, max_epochs=1)
    with pytest.raises(TrainingDiverged, match="Try a lower learning rate"):
        train(model, loaders, config, None, log=None)
