"""A saved model predicts from raw arrays alone, as the loaders would have it predict."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from neurotwin.data import open_recording, static_loaders
from neurotwin.errors import NeurotwinError
from neurotwin.models import (
    InputNormalization,
    attach_normalization,
    create_model,
    load_model,
    recording_infos,
    save_model,
)
from neurotwin.train import predict
from tiny import write_static

HW = (12, 18)  # the tiny recording's 16x24 images are resized (anti-aliased) to this
SMALL = {"hidden_channels": 8}
LEGACY = Path(__file__).parents[1] / "legacy" / "v0.1" / "model.pt"

#: Runs in a fresh interpreter that sees the model files and the raw arrays only. The
#: package face is lazy (no torch yet), and loading a file registers the built-in models.
FRESH = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import neurotwin.models
    assert "torch" not in sys.modules, "import neurotwin.models imported torch"
    from neurotwin.models import load_model
    raw = np.load(sys.argv[2])
    out = {}
    for name in json.loads(sys.argv[3]):
        model = load_model(f"{sys.argv[1]}/{name}.pt")
        out[name] = model.predict_responses(
            raw["images"], behavior=raw["behavior"], pupil_center=raw["pupil_center"],
            batch_size=5,
        )
    np.savez(sys.argv[4], **out)
    """
)


@pytest.fixture(scope="module")
def recording_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_static(tmp_path_factory.mktemp("raw") / "rec")


def _models(path: Path) -> dict:
    infos = recording_infos(path, HW)
    kit = {k: dataclasses.replace(v, preprocessing="kit") for k, v in infos.items()}
    torch.manual_seed(0)
    return {
        "sensorium+": create_model("sensorium+", infos, **SMALL).eval(),
        "gain-kit": create_model("sensorium+-gain", kit, **SMALL).eval(),
    }


def _through_loaders(model, path: Path, cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """Predictions of every trial via static_loaders + train.predict, in response units."""
    (key,) = model.keys
    info = model.infos[key]
    loaders = static_loaders(
        path,
        7,
        image_size=info.image_hw,
        preprocessing=info.preprocessing,
        include_behavior=True,
        include_eye_position=True,
        shuffle=False,
        cache_dir=cache,
        progress=False,
    )
    parts = [predict(model, loaders[tier][key], key) for tier in loaders]
    index = np.concatenate([p[0] for p in parts])
    values = np.concatenate([p[1] for p in parts]) * info.normalization.response_scale
    order = np.argsort(index)
    return index[order], values[order]


def test_a_saved_model_predicts_raw_arrays_in_a_fresh_process_as_the_loaders_do(
    recording_path: Path, tmp_path: Path
) -> None:
    path = shutil.copytree(recording_path, tmp_path / "rec")
    models = _models(path)
    expected = {}
    for name, model in models.items():
        index, expected[name] = _through_loaders(model, path, tmp_path / f"cache-{name}")
        save_model(model, tmp_path / f"{name}.pt")
    recording = open_recording(path)
    assert np.array_equal(index, np.arange(recording.n_trials))
    raw = {
        field: np.stack([recording.load(field, int(i)) for i in index])
        for field in ("images", "behavior", "pupil_center")
    }
    np.savez(tmp_path / "raw.npz", **raw)
    shutil.rmtree(path)  # the fresh process has the model files and raw arrays only
    for name in models:
        shutil.rmtree(tmp_path / f"cache-{name}")
    out = tmp_path / "out.npz"
    subprocess.run(
        [sys.executable, "-c", FRESH, str(tmp_path), str(tmp_path / "raw.npz"),
         json.dumps(list(models)), str(out)],
        check=True,
    )  # fmt: skip
    with np.load(out) as got:
        for name in models:
            assert got[name].shape == expected[name].shape == (recording.n_trials, 7)
            assert got[name].dtype == np.float32
            np.testing.assert_allclose(got[name], expected[name], rtol=0, atol=1e-5)
            assert np.ptp(got[name], axis=0).min() > 0  # the images make a difference


def test_raw_inputs_are_checked_with_clear_errors(recording_path: Path) -> None:
    model = _models(recording_path)["sensorium+"]
    recording = open_recording(recording_path)
    images = np.stack([recording.load("images", i) for i in range(4)])[:, 0].astype(np.uint8)
    behavior = np.ones((4, 3), np.float32)
    pupil = np.zeros((4, 2), np.float32)
    good = model.predict_responses(images, behavior=behavior, pupil_center=pupil)
    assert good.shape == (4, 7)
    with pytest.raises(NeurotwinError, match=r"dtype int64.*uint8"):
        model.predict_responses(images.astype(np.int64), behavior=behavior, pupil_center=pupil)
    with pytest.raises(NeurotwinError, match=r"shape \(4, 10, 18\); expected \(N, 16, 24\)"):
        model.predict_responses(images[:, :10, :18], behavior=behavior, pupil_center=pupil)
    # images already at the model's input size are normalised only, not resized again
    from neurotwin.data.images import resize_images

    small = resize_images(images[:, None].astype(np.float32), HW)[:, 0]
    at_model_size = model.predict_responses(small, behavior=behavior, pupil_center=pupil)
    np.testing.assert_allclose(at_model_size, good, rtol=0, atol=1e-5)
    with pytest.raises(NeurotwinError, match=r"reads behavior; pass behavior="):
        model.predict_responses(images, pupil_center=pupil)
    with pytest.raises(NeurotwinError, match=r"pupil_center has shape \(3, 2\); expected \(4, 2\)"):
        model.predict_responses(images, behavior=behavior, pupil_center=pupil[:3])
    plain = create_model("sensorium", recording_infos(recording_path, HW), **SMALL)  # images only
    with pytest.raises(NeurotwinError, match=r"does not read behavior .*leave behavior= out"):
        plain.predict_responses(images, behavior=behavior)
    with pytest.raises(NeurotwinError, match=r"no readout for recording key 'x-y-z'"):
        model.predict_responses(images, "x-y-z", behavior=behavior, pupil_center=pupil)
    with pytest.raises(NeurotwinError, match="NaN"):
        model.predict_responses(
            np.full((1, 16, 24), np.nan), behavior=behavior[:1], pupil_center=pupil[:1]
        )
    # non-finite behaviour or pupil centre would give NaN (or silently clipped) predictions
    bad_behavior = behavior.copy()
    bad_behavior[0, 0] = np.nan
    with pytest.raises(NeurotwinError, match="behavior contains NaN"):
        model.predict_responses(images, behavior=bad_behavior, pupil_center=pupil)
    bad_pupil = pupil.copy()
    bad_pupil[1, 1] = np.inf
    with pytest.raises(NeurotwinError, match="pupil_center contains NaN or infinite"):
        model.predict_responses(images, behavior=behavior, pupil_center=bad_pupil)
    # pixel values outside 0..255 are not raw images (e.g. already standardised ones)
    with pytest.raises(NeurotwinError, match=r"range from -1.*expected raw pixel values 0\.\.255"):
        model.predict_responses(
            images.astype(np.float32) / 127.5 - 1, behavior=behavior, pupil_center=pupil
        )


def test_old_files_load_and_say_how_to_attach_the_normalisation(recording_path: Path) -> None:
    legacy = load_model(LEGACY)  # written by neurotwin 0.1, before infos held it
    assert all(info.normalization is None for info in legacy.infos.values())
    with pytest.raises(NeurotwinError, match=r"predates.*attach_normalization\(model, recording\)"):
        legacy.predict_responses(np.zeros((1, 36, 64), np.uint8))
    # the same state, rebuilt without it, gets it back from the recording
    model = _models(recording_path)["sensorium+"]
    (key,) = model.keys
    saved = model.infos[key].normalization
    model.infos[key] = dataclasses.replace(model.infos[key], normalization=None)
    attach_normalization(model, recording_path)
    assert model.infos[key].normalization == saved
    assert isinstance(saved, InputNormalization)
    assert InputNormalization.from_dict(saved.to_dict()) == saved
