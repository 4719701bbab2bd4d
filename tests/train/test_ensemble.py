import json

import numpy as np
import pytest

from neurotwin.errors import NeurotwinError
from neurotwin.train import TrainConfig, resplit_loaders, train_ensemble
from train.standin import make_standin


def test_resplit_keeps_sizes_pools_trials_and_is_disjoint(tiny_loaders):
    new = resplit_loaders(tiny_loaders, seed=3)
    for key, loader in tiny_loaders["train"].items():
        old_train, old_val = loader.dataset, tiny_loaders["validation"][key].dataset
        train, val = new["train"][key].dataset, new["validation"][key].dataset
        assert len(train) == len(old_train) and len(val) == len(old_val)
        assert not set(train.indices) & set(val.indices)
        pooled = np.concatenate([old_train.indices, old_val.indices])
        assert sorted(np.concatenate([train.indices, val.indices])) == sorted(pooled)
        assert train.cache is old_train.cache and train.normalizer is old_train.normalizer
        assert not np.array_equal(np.sort(val.indices), np.sort(old_val.indices))
        assert sum(len(b["index"]) for b in new["validation"][key]) == len(val)
    again = resplit_loaders(tiny_loaders, seed=3)
    other = resplit_loaders(tiny_loaders, seed=4)
    key = next(iter(new["validation"]))
    same = again["validation"][key].dataset.indices
    assert np.array_equal(same, new["validation"][key].dataset.indices)
    assert not np.array_equal(other["validation"][key].dataset.indices, same)


def test_resplit_needs_both_tiers(tiny_loaders):
    with pytest.raises(NeurotwinError, match="no validation tier"):
        resplit_loaders({"train": tiny_loaders["train"]}, seed=0)


def test_ensemble_members_are_trained_once_and_skipped_when_finished(tiny_loaders, tmp_path):
    config = TrainConfig(device="cpu", progress=False, batch_size=4, max_epochs=1)
    built = []

    def make(i):
        built.append(i)
        return make_standin(tiny_loaders, seed=100 + i)

    result = train_ensemble(make, tiny_loaders, 2, config, tmp_path / "ens", log=None)
    assert len(result.members) == 2 and built == [0, 1]
    assert (tmp_path / "ens/member-0/model.pt").exists()
    assert (tmp_path / "ens/member-1/model.pt").exists()
    summary = json.loads((tmp_path / "ens/ensemble.json").read_text())
    assert [m["seed"] for m in summary["members"]] == [config.seed, config.seed + 1]
    w0, w1 = (m.readouts[next(iter(m.keys))].weight for m in result.members)
    assert not np.allclose(w0.detach().numpy(), w1.detach().numpy())

    lines = []
    again = train_ensemble(make, tiny_loaders, 2, config, tmp_path / "ens", log=lines.append)
    assert not any(line.startswith("epoch") for line in lines)  # nothing was trained again
    for a, b in zip(result.results, again.results, strict=True):
        assert a.best_correlation == b.best_correlation
