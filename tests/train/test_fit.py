import json

import pytest

import neurotwin.models
import train.standin  # noqa: F401  (registers the stand-in)
from neurotwin.cli import main
from neurotwin.train import TrainConfig, fit
from neurotwin.train.fitting import model_image_size
from tiny import write_static


@pytest.fixture
def stand_in_registry(monkeypatch):
    """Record what `fit` asks of the registry (the stand-in is registered as "standin")."""
    calls = {}
    real_infos, real_create = neurotwin.models.recording_infos, neurotwin.models.create_model

    def recording_infos(paths, image_hw):
        calls["image_hw"] = image_hw
        return real_infos(paths, image_hw)

    def create_model(name, infos, **config):
        calls["config"] = config
        return real_create(name, infos, **config)

    monkeypatch.setattr(neurotwin.models, "recording_infos", recording_infos)
    monkeypatch.setattr(neurotwin.models, "create_model", create_model)
    return calls


def test_fit_builds_the_model_and_its_loaders_and_trains(stand_in_registry, tmp_path):
    path = write_static(tmp_path / "rec", hw=(16, 24))
    config = TrainConfig(device="cpu", progress=False, batch_size=4, max_epochs=2)
    result = fit(path, "standin", tmp_path / "run", config, log=None, channels=2)
    assert stand_in_registry == {"image_hw": (4, 6), "config": {"channels": 2}}
    assert len(result.history) == 3 and (tmp_path / "run/model.pt").exists()
    assert model_image_size(path, (8, 12)) == (8, 12)


def test_cli_train_parses_and_calls_fit(stand_in_registry, tmp_path, capsys):
    path = write_static(tmp_path / "rec", hw=(16, 24))
    args = ["train", str(path), "--model", "standin", "--out", str(tmp_path / "run"),
            "--epochs", "1", "--batch-size", "4", "--device", "cpu", "--no-progress",
            "--set", "channels=2", "--set", "pool=[2, 3]"]  # fmt: skip
    assert main(args) == 0
    assert stand_in_registry["config"] == {"channels": 2, "pool": [2, 3]}
    assert "best validation correlation" in capsys.readouterr().out
    written = json.loads((tmp_path / "run/config.json").read_text())
    assert written["train"]["max_epochs"] == 1 and written["train"]["batch_size"] == 4

    assert main(["train", str(path), "--model", "nope", "--out", str(tmp_path / "x")]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
    assert main(["train", str(path), "--out", str(tmp_path / "y"), "--set", "oops"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


def test_cli_ensemble(stand_in_registry, tmp_path, capsys):
    path = write_static(tmp_path / "rec", hw=(16, 24))
    args = ["train", str(path), "--model", "standin", "--out", str(tmp_path / "ens"),
            "--epochs", "1", "--batch-size", "4", "--device", "cpu", "--no-progress",
            "--ensemble", "2", "--k-fold"]  # fmt: skip
    assert main(args) == 0
    assert "2 members" in capsys.readouterr().out
    assert (tmp_path / "ens/member-1/model.pt").exists()
    assert json.loads((tmp_path / "ens/ensemble.json").read_text())["k_fold"] is True
