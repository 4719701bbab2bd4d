"""The shipped weights still load and score what their records say on the demo mouse."""

import math

import numpy as np
import pytest

from neurotwin.demo import VIDEO_SIMULATION
from neurotwin.errors import NeurotwinError
from neurotwin.models import list_pretrained, load_pretrained, pretrained_record, resolve_model
from neurotwin.simulate import simulate_static, simulate_video
from neurotwin.submit import evaluate

STATIC = [n for n in list_pretrained() if pretrained_record(n)["data"].get("kind") != "video"]
VIDEO = [n for n in list_pretrained() if pretrained_record(n)["data"].get("kind") == "video"]


@pytest.fixture(scope="module")
def demo_mouse(tmp_path_factory):
    (simulated,) = simulate_static(tmp_path_factory.mktemp("demo"), preset="demo", seed=0)
    return simulated.path


@pytest.fixture(scope="module")
def demo_video_mouse(tmp_path_factory):
    """The video demo's mouse (``neurotwin demo --video``), as the video weights were made."""
    (simulated,) = simulate_video(
        tmp_path_factory.mktemp("video-demo"), "demo", 0, 1, **VIDEO_SIMULATION["demo"]
    )
    return simulated.path


def test_pretrained_weights_are_shipped():
    assert {"sensorium", "sensorium+"} <= set(STATIC)


def _scores_what_it_scored(name, mouse):
    record = pretrained_record(name)
    assert record["data"]["recording"] == mouse.name
    model = load_pretrained(name)
    assert model.name == record["model"]
    tracks = {record["track"]: record["scores"], **record.get("other_tracks", {})}
    for track, scores in tracks.items():
        report = evaluate(model, mouse, track, cache_dir=mouse.parent / "cache")
        for phase, metrics in scores.items():
            for metric, expected in metrics.items():
                got = report.phases[phase].metrics[metric]
                where = (track, phase, metric)
                if expected["value"] is None:  # undefined (no repeats in the tier)
                    assert not math.isfinite(got.value), where
                else:
                    assert got.value == pytest.approx(expected["value"], abs=1e-4), where
                if expected["ceiling"] is None:
                    assert got.ceiling is None, where
                else:
                    assert got.ceiling == pytest.approx(expected["ceiling"], abs=1e-6), where


@pytest.mark.parametrize("name", STATIC)
def test_pretrained_weights_load_and_score_what_they_scored(name, demo_mouse):
    _scores_what_it_scored(name, demo_mouse)


@pytest.mark.parametrize("name", VIDEO)  # benchmarks/pretrain.py --models video-gru makes them
def test_pretrained_video_weights_score_what_they_scored(name, demo_video_mouse):
    _scores_what_it_scored(name, demo_video_mouse)


def test_resolve_model_names_what_it_accepts(tmp_path):
    with pytest.raises(NeurotwinError, match="neither a model file, a run folder nor a pretrained"):
        resolve_model("no-such-model")
    with pytest.raises(NeurotwinError, match=r"holds no model\.pt"):
        resolve_model(tmp_path)
    assert (
        resolve_model(list_pretrained()[0]).name == pretrained_record(list_pretrained()[0])["model"]
    )


@pytest.mark.parametrize("name", STATIC)
def test_pretrained_weights_predict_raw_images_as_the_loaders_do(name, demo_mouse):
    import torch

    from neurotwin.data import open_recording, static_loaders

    model = load_pretrained(name)
    (key,) = model.keys
    info = model.infos[key]
    loaders = static_loaders(
        demo_mouse,
        40,
        image_size=info.image_hw,
        include_behavior=model.needs_behavior,
        include_eye_position=model.needs_eye_position,
        tiers=["test"],
        shuffle=False,
        cache_dir=demo_mouse.parent / "cache",
        progress=False,
    )
    batch = next(iter(loaders["test"][key]))  # the first 40 test trials, as trained
    with torch.no_grad():
        expected = model(batch, key).numpy() * info.normalization.response_scale
    recording = open_recording(demo_mouse)
    index = batch["index"].numpy()
    raw = {f: np.stack([recording.load(f, int(i)) for i in index]) for f in recording.fields}
    inputs = {f: raw[f] for f in model.required_fields[1:]}  # only what the model reads
    got = model.predict_responses(raw["images"], **inputs)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * np.abs(expected).max())
