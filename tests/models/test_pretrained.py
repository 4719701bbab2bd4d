"""The shipped weights still load and score what their records say on the demo mouse."""

import numpy as np
import pytest

from neurotwin.errors import NeurotwinError
from neurotwin.models import list_pretrained, load_pretrained, pretrained_record, resolve_model
from neurotwin.simulate import simulate_static
from neurotwin.submit import evaluate


@pytest.fixture(scope="module")
def demo_mouse(tmp_path_factory):
    (simulated,) = simulate_static(tmp_path_factory.mktemp("demo"), preset="demo", seed=0)
    return simulated.path


def test_pretrained_weights_are_shipped():
    assert {"sensorium", "sensorium+"} <= set(list_pretrained())


@pytest.mark.parametrize("name", list_pretrained())
def test_pretrained_weights_load_and_score_what_they_scored(name, demo_mouse):
    record = pretrained_record(name)
    assert record["data"]["recording"] == demo_mouse.name
    model = load_pretrained(name)
    assert model.name == record["model"]
    report = evaluate(model, demo_mouse, record["track"], cache_dir=demo_mouse.parent / "cache")
    for phase, metrics in record["scores"].items():
        for metric, expected in metrics.items():
            got = report.phases[phase].metrics[metric]
            assert got.value == pytest.approx(expected["value"], abs=1e-4), (phase, metric)
            assert got.ceiling == pytest.approx(expected["ceiling"], abs=1e-6), (phase, metric)


def test_resolve_model_names_what_it_accepts(tmp_path):
    with pytest.raises(NeurotwinError, match="neither a model file, a run folder nor a pretrained"):
        resolve_model("no-such-model")
    with pytest.raises(NeurotwinError, match=r"holds no model\.pt"):
        resolve_model(tmp_path)
    assert (
        resolve_model(list_pretrained()[0]).name == pretrained_record(list_pretrained()[0])["model"]
    )


@pytest.mark.parametrize("name", list_pretrained())
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
