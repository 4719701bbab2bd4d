import pytest
import torch

from neurotwin.errors import NeurotwinError
from neurotwin.train import TrainConfig, resolve_device, train
from neurotwin.train.sampling import epoch_batches, epoch_seed, shard


def test_defaults_are_the_kits_recipe():
    c = TrainConfig()
    assert (c.lr, c.lr_decay_steps, c.lr_decay_factor, c.patience) == (0.009, 4, 0.3, 5)
    assert (c.min_lr, c.tolerance, c.max_epochs, c.batch_size) == (1e-4, 1e-6, 200, 128)
    assert c.scale_loss and not c.avg_loss and c.loss == "poisson"
    assert c.channels_last and not c.compile and c.device == "auto"


def test_json_round_trip(tmp_path):
    c = TrainConfig(lr=0.01, seed=3, device="cpu", num_threads=2)
    c.save(tmp_path / "c.json")
    assert TrainConfig.load(tmp_path / "c.json") == c
    assert TrainConfig.from_dict(c.to_dict()) == c


def test_unknown_field_suggests_the_closest():
    with pytest.raises(
        NeurotwinError, match=r"unknown train option 'lr_init' \(did you mean 'lr'\?\)"
    ):
        TrainConfig.from_dict({"lr_init": 0.1})
    with pytest.raises(NeurotwinError, match="did you mean 'patience'"):
        TrainConfig().replace(patiense=3)


@pytest.mark.parametrize(
    "change",
    [{"lr": 0}, {"batch_size": 0}, {"patience": 1.5}, {"lr_decay_factor": 1.0}, {"loss": "mse"},
     {"device": "gpu"}, {"seed": -1}, {"tolerance": -1.0}],
)  # fmt: skip
def test_invalid_values_are_refused(change):
    with pytest.raises(NeurotwinError):
        TrainConfig(**change)


def test_cuda_without_cuda_says_what_is_available(monkeypatch, tiny_loaders):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    for device in ("cuda", "cuda:1"):
        with pytest.raises(NeurotwinError, match="asks for CUDA but only the CPU is available"):
            resolve_device(device)
    from train.standin import make_standin

    with pytest.raises(NeurotwinError, match="CUDA"):
        train(make_standin(tiny_loaders), tiny_loaders, TrainConfig(device="cuda"), log=None)


def test_epoch_batches_are_a_pure_function_of_seed_and_epoch():
    a = epoch_batches(10, 4, seed=1, epoch=3, stream=0)
    b = epoch_batches(10, 4, seed=1, epoch=3, stream=0)
    c = epoch_batches(10, 4, seed=1, epoch=4, stream=0)
    assert [len(x) for x in a] == [4, 4, 2]
    assert all((x == y).all() for x, y in zip(a, b, strict=True))
    assert sorted(int(i) for x in a for i in x) == list(range(10))
    assert any((x != y).any() for x, y in zip(a, c, strict=True))
    assert epoch_seed(1, 2, 0) == epoch_seed(1, 2, 0) != epoch_seed(1, 2, 1)


def test_shards_are_disjoint_or_padded_to_equal_length():
    batches = epoch_batches(10, 2, seed=0, epoch=1, stream=0)  # 5 batches
    ranks = [shard(batches, r, 2, pad=False) for r in range(2)]
    assert [len(r) for r in ranks] == [3, 2]
    seen = sorted(int(i) for r in ranks for b in r for i in b)
    assert seen == list(range(10))
    padded = [shard(batches, r, 2, pad=True) for r in range(2)]
    assert [len(r) for r in padded] == [3, 3]
    assert (padded[1][-1] == batches[0]).all()  # wraps around
