"""The dwise recipe: named settings, CutMix within a mouse, EMA restored on resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from model_helpers import TINY_DWISE
from neurotwin.data import LoaderConfig, make_loaders
from neurotwin.errors import NeurotwinError
from neurotwin.models import create_model, recording_infos
from neurotwin.simulate import simulate_video
from neurotwin.train import TrainConfig, train
from neurotwin.train import trainer as trainer_module
from neurotwin.train.cutmix import cutmix
from neurotwin.train.optim import RECIPES, recipe


def test_the_dwise_recipe_is_the_winners() -> None:
    config = recipe("dwise")
    assert (config.optimizer, config.weight_decay, config.schedule) == ("adamw", 0.05, "cosine")
    assert (config.lr, config.batch_size, config.warmup_epochs, config.max_epochs) == (
        2.4e-3, 32, 3, 21
    )  # fmt: skip
    assert config.min_lr == pytest.approx(2.4e-5)
    assert (config.ema_decay, config.cutmix_prob, config.cutmix_alpha) == (0.999, 0.5, 1.0)
    assert config.bf16 and config.channels_last_3d and not config.scale_loss
    assert config.patience == config.max_epochs  # the schedule runs to its end
    # the rate scales linearly with the batch; a short run keeps a step after the warm-up
    small = recipe("dwise", batch_size=4, max_epochs=2)
    assert small.lr == pytest.approx(3e-4) and small.min_lr == pytest.approx(3e-6)
    assert (small.warmup_epochs, small.patience) == (1, 2)
    assert set(RECIPES) == {"dwise"}
    with pytest.raises(NeurotwinError, match="unknown recipe 'dwize'"):
        recipe("dwize")
    with pytest.raises(NeurotwinError, match="cutmix_prob must lie in"):
        TrainConfig(cutmix_prob=1.5)


def test_cutmix_pastes_a_box_and_mixes_targets_by_its_area() -> None:
    b, t, h, w, n = 4, 3, 10, 12, 2
    # trial i: every pixel and every response equals i, so each mixed value names its source
    values = torch.arange(b, dtype=torch.float32)
    batch = {
        "videos": values.view(b, 1, 1, 1, 1).expand(b, 1, t, h, w).clone(),
        "responses": values.view(b, 1, 1).expand(b, t, n).clone(),
        "behavior": values.view(b, 1, 1).expand(b, 2, t).clone(),
        "length": torch.tensor([3, 2, 3, 1]),
        "index": torch.arange(b),
    }
    torch.manual_seed(3)
    mixed, lam = cutmix(batch, prob=1.0)
    assert 0.0 < lam < 1.0
    assert torch.equal(mixed["index"], batch["index"])
    for i in range(b):
        frame = mixed["videos"][i, 0, 0]
        pasted = frame != i
        partner = int(frame[pasted][0]) if pasted.any() else i
        assert torch.equal(mixed["videos"][i, 0, 1], frame)  # the same box in every frame
        assert set(frame.unique().tolist()) <= {float(i), float(partner)}
        kept = 1.0 - pasted.float().mean().item()
        if partner != i:
            assert kept == pytest.approx(lam)  # lam is the box's true area ratio
            expected = lam * i + (1 - lam) * partner
            torch.testing.assert_close(mixed["responses"][i], torch.full((t, n), expected))
            torch.testing.assert_close(mixed["behavior"][i], torch.full((2, t), expected))
            assert mixed["length"][i] == min(batch["length"][i], batch["length"][partner])
    assert torch.equal(batch["videos"][1], torch.ones(1, t, h, w))  # the input is unchanged

    untouched, lam = cutmix(batch, prob=0.0)
    assert lam == 1.0 and untouched["videos"] is batch["videos"]
    with pytest.raises(NeurotwinError, match="cutmix takes video batches"):
        cutmix({"images": torch.zeros(2, 1, 4, 4), "responses": torch.zeros(2, 3)})


@pytest.fixture(scope="module")
def mouse_loaders(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Loaders of a tiny simulated video mouse: 12 train windows of 8 frames, 6 oracle trials."""
    folder = tmp_path_factory.mktemp("dwise-mouse")
    (rec,) = simulate_video(
        folder, preset="tiny", seed=4, neurons=6, height=12, width=16, min_frames=56,
        max_frames=60,
    )  # fmt: skip
    infos = recording_infos([rec.path], (12, 16))
    fields = ("videos", "behavior", "pupil_center")
    config = LoaderConfig(batch_size=4, fields=fields, tiers=("train", "oracle"), frames=8)
    loaders = make_loaders([rec.path], config, cache_dir=folder / "cache", progress=False)
    loaders["validation"] = loaders.pop("oracle")
    return infos, loaders


def _train(infos: Any, loaders: Any, config: TrainConfig, out: Path, **kwargs: Any) -> Any:
    torch.manual_seed(0)
    model = create_model("video-dwise", infos, **TINY_DWISE)
    return train(model, loaders, config, out, **kwargs)


def test_ema_weights_are_validated_saved_and_restored_on_resume(
    mouse_loaders: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    infos, loaders = mouse_loaders
    config = recipe(
        "dwise", batch_size=4, max_epochs=2, ema_decay=0.5, device="cpu", progress=False,
        num_threads=1,
    )  # fmt: skip
    assert not config.bf16 or torch.device("cpu").type == "cpu"  # bf16 is CUDA only
    mixed = []

    def counting(batch: Any, **options: Any) -> Any:
        out = cutmix(batch, **options)
        mixed.append(out[1] < 1.0)
        return out

    monkeypatch.setattr(trainer_module, "cutmix", counting)
    whole = _train(infos, loaders, config, tmp_path / "whole")
    assert len(mixed) == 2 * 3 and any(mixed)  # every training batch went through CutMix
    steps = len(mixed)  # one mouse: a batch a step
    saved = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=False)
    assert any(not torch.equal(saved["ema"][k], v) for k, v in saved["model"].items())

    def stop_after_first(line: str) -> None:
        if line.startswith("epoch   1"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _train(infos, loaders, config, tmp_path / "split", log=stop_after_first)
    resumed = _train(infos, loaders, config, tmp_path / "split", log=None)
    assert [e["validation_correlation"] for e in resumed.history] == [
        e["validation_correlation"] for e in whole.history
    ]
    first, second = whole.model.state_dict(), resumed.model.state_dict()
    for name, value in first.items():
        assert torch.equal(second[name], value), name
    assert saved["ema_updates"] == steps  # the warm-up's count

    # a checkpoint saved before the warm-up existed resumes with none (as its average had)
    with pytest.raises(KeyboardInterrupt):
        _train(infos, loaders, config, tmp_path / "old", log=stop_after_first)
    old = torch.load(tmp_path / "old" / "checkpoint.pt", weights_only=False)
    assert old["ema_updates"] == steps // 2
    del old["ema_updates"]
    torch.save(old, tmp_path / "old" / "checkpoint.pt")
    legacy = _train(infos, loaders, config, tmp_path / "old", log=None)
    scores = [[e["validation_correlation"] for e in r.history] for r in (whole, legacy)]
    assert scores[1][:2] == scores[0][:2] and scores[1][2] != scores[0][2]


def test_the_named_recipe_is_one_field_of_the_config_and_one_flag() -> None:
    from neurotwin.train import TrainConfig
    from neurotwin.train.optim import recipe

    resolved = TrainConfig(recipe="dwise", max_epochs=4).for_kind("video")
    assert resolved == recipe("dwise", max_epochs=4)
    assert resolved.recipe == "given" and resolved.cutmix_prob == 0.5
    assert resolved.max_epochs == 4 and resolved.for_kind("video") == resolved
