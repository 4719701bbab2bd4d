"""The 2022 kit's image preprocessing, offered for kit weights (issue 23, section 6).

The kit normalises each image, ``(x - mean) / std`` with the ``all`` statistics
(neuralpredictors' ``NeuroNormalizer``), then rescales it with scikit-image as
neuralpredictors' ``ScaleInputs`` does. The reference below is that per-sample pipeline
written out; neurotwin's loaders must hand the model the same images.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from skimage.transform import rescale

from neurotwin.data import cache_for, open_recording, static_loaders
from neurotwin.models import create_model, load_model, recording_infos, save_model
from neurotwin.submit import predict_tiers
from tiny import write_static

SCALE = 0.25


@pytest.fixture(scope="module")
def recording_path(tmp_path_factory):
    return write_static(tmp_path_factory.mktemp("kit") / "rec", hw=(36, 64), n_neurons=5)


def kit_image(recording, index: int) -> np.ndarray:
    """One image as the 2022 kit's loader hands it to the model (float64)."""
    stats = recording.statistics("images")
    image = recording.load("images", index).astype(np.float32)  # (1, H, W)
    normalised = (image - stats["mean"]) / stats["std"]
    return rescale(
        normalised,
        scale=SCALE,
        mode="reflect",
        anti_aliasing=False,
        clip=True,
        preserve_range=True,
    )


def loader_images(path, cache_dir, preprocessing: str) -> tuple[np.ndarray, np.ndarray]:
    loaders = static_loaders(
        path,
        batch_size=64,
        scale=SCALE,
        tiers=["test"],
        shuffle=False,
        cache_dir=cache_dir,
        progress=False,
        preprocessing=preprocessing,
    )
    (loader,) = loaders["test"].values()
    batches = list(loader)
    images = np.concatenate([b["images"].numpy() for b in batches])
    index = np.concatenate([b["index"].numpy() for b in batches])
    return images, index


def test_kit_preprocessing_reproduces_the_kit_per_sample(recording_path, tmp_path):
    recording = open_recording(recording_path)
    images, index = loader_images(recording_path, tmp_path, "kit")
    expected = np.stack([kit_image(recording, int(i)) for i in index])
    assert images.shape == expected.shape == (len(index), 1, 9, 16)
    np.testing.assert_allclose(images, expected, rtol=0, atol=1e-5 * np.abs(expected).max())

    # neurotwin's own (anti-aliased) preprocessing is measurably different
    ours, _ = loader_images(recording_path, tmp_path, "neurotwin")
    assert np.abs(ours - expected).max() > 0.05


def test_the_preprocessing_is_recorded_in_the_cache(recording_path, tmp_path):
    recording = open_recording(recording_path)
    kit = cache_for(recording, (9, 16), tmp_path, progress=False, preprocessing="kit")
    ours = cache_for(recording, (9, 16), tmp_path, progress=False)
    assert (kit.preprocessing, ours.preprocessing) == ("kit", "neurotwin")
    assert kit.path != ours.path and kit.meta["preprocessing"] == "kit"
    with pytest.raises(ValueError, match="unknown preprocessing 'nearest'"):
        cache_for(recording, (9, 16), tmp_path, progress=False, preprocessing="nearest")


def test_a_model_records_its_preprocessing_and_predicts_with_it(recording_path, tmp_path):
    infos = recording_infos(recording_path)
    info = next(iter(infos.values()))
    model = create_model("sensorium", infos, hidden_channels=4)
    model.infos = {k: dataclasses.replace(v, preprocessing="kit") for k, v in model.infos.items()}
    save_model(model, tmp_path / "model.pt")
    loaded = load_model(tmp_path / "model.pt")
    assert loaded.infos[info.key].preprocessing == "kit"

    cache_dir = tmp_path / "cache"
    predictions = predict_tiers(loaded, recording_path, ["test"], cache_dir=cache_dir)
    assert [p.name.split("-")[-2] for p in cache_dir.iterdir()] == ["kit"]
    images, _ = loader_images(recording_path, cache_dir, "kit")
    loaded.eval()
    with torch.no_grad():
        direct = loaded({"images": torch.from_numpy(images)}, info.key).numpy()
    np.testing.assert_allclose(predictions["test"].values, direct, rtol=1e-5, atol=1e-6)
