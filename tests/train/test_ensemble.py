import json

import numpy as np
import pytest

import neurotwin.train.ensemble as ensemble_module
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


def test_k_fold_validates_on_every_pooled_trial_once(tiny_loaders):
    k = 3
    splits = [resplit_loaders(tiny_loaders, seed=5, fold=(i, k)) for i in range(k)]
    for key, loader in tiny_loaders["train"].items():
        old_val = tiny_loaders["validation"][key].dataset
        pooled = np.concatenate([loader.dataset.indices, old_val.indices])
        vals = [set(s["validation"][key].dataset.indices) for s in splits]
        assert sorted(i for v in vals for i in v) == sorted(pooled)  # disjoint, covering
        assert max(map(len, vals)) - min(map(len, vals)) <= 1
        for split, val in zip(splits, vals, strict=True):
            assert set(split["train"][key].dataset.indices) == set(pooled) - val
            assert sum(len(b["index"]) for b in split["validation"][key]) == len(val)
    key = next(iter(tiny_loaders["validation"]))
    again = resplit_loaders(tiny_loaders, seed=5, fold=(1, k))["validation"][key].dataset
    other = resplit_loaders(tiny_loaders, seed=6, fold=(1, k))["validation"][key].dataset
    assert set(again.indices) == set(splits[1]["validation"][key].dataset.indices)
    assert set(other.indices) != set(again.indices)


@pytest.mark.parametrize("fold", [(0, 1), (3, 3), (-1, 3)])
def test_k_fold_refuses_impossible_folds(tiny_loaders, fold):
    with pytest.raises(NeurotwinError, match="at least 2 folds"):
        resplit_loaders(tiny_loaders, seed=0, fold=fold)


def test_k_fold_needs_two_trials_in_every_fold(tiny_loaders):
    key, loader = next(iter(tiny_loaders["train"].items()))
    n = len(loader.dataset) + len(tiny_loaders["validation"][key].dataset)
    most = n // 2
    split = resplit_loaders(tiny_loaders, seed=0, fold=(most - 1, most))
    assert len(split["validation"][key].dataset) >= 2
    with pytest.raises(
        NeurotwinError, match=f"into {most + 1} folds of at least 2 trials: it has {n}"
    ):
        resplit_loaders(tiny_loaders, seed=0, fold=(0, most + 1))


@pytest.mark.parametrize(("members", "resplit"), [(1, True), (3, False)])
def test_k_fold_ensemble_needs_two_members_and_resplit(tiny_loaders, tmp_path, members, resplit):
    config = TrainConfig(device="cpu", progress=False, batch_size=4, max_epochs=1)
    with pytest.raises(NeurotwinError, match="k-fold ensemble needs at least 2 members"):
        train_ensemble(
            lambda i: make_standin(tiny_loaders, seed=i), tiny_loaders, members, config,
            tmp_path / "ens", resplit, log=None, k_fold=True,
        )  # fmt: skip
    assert not (tmp_path / "ens").exists()


def test_k_fold_ensemble_trains_each_member_on_its_fold(tiny_loaders, tmp_path, monkeypatch):
    seen: list[dict] = []
    monkeypatch.setattr(ensemble_module, "train", _wrap(ensemble_module.train, seen))
    config = TrainConfig(device="cpu", progress=False, batch_size=4, max_epochs=1)
    result = train_ensemble(
        lambda i: make_standin(tiny_loaders, seed=i), tiny_loaders, 2, config,
        tmp_path / "ens", log=None, k_fold=True,
    )  # fmt: skip
    assert len(result.members) == 2 and len(seen) == 2
    for key, loader in tiny_loaders["train"].items():
        pooled = set(loader.dataset.indices) | set(tiny_loaders["validation"][key].dataset.indices)
        assert not seen[0][key] & seen[1][key] and seen[0][key] | seen[1][key] == pooled
    summary = json.loads((tmp_path / "ens/ensemble.json").read_text())
    assert summary["k_fold"] is True and [m["fold"] for m in summary["members"]] == [[0, 2], [1, 2]]
    split = json.loads((tmp_path / "ens/member-1/split.json").read_text())
    assert split["mode"] == "k-fold" and split["fold"] == [1, 2] and split["seed"] == config.seed


def _wrap(train, seen):
    def recording_train(model, loaders, config, out, resume, log):
        seen.append({k: set(v.dataset.indices) for k, v in loaders["validation"].items()})
        return train(model, loaders, config, out, resume, log)

    return recording_train


@pytest.mark.parametrize("change", [{"k_fold": True}, {"resplit": False}, {"n": 3, "k_fold": True}])
def test_a_member_is_not_resumed_on_another_split(tiny_loaders, tmp_path, change):
    config = TrainConfig(device="cpu", progress=False, batch_size=4, max_epochs=1)
    first = {"k_fold": True} if change.get("n") else {}
    make = lambda i: make_standin(tiny_loaders, seed=i)  # noqa: E731
    train_ensemble(make, tiny_loaders, 2, config, tmp_path / "ens", log=None, **first)
    resplit = change.get("resplit", True)
    with pytest.raises(
        NeurotwinError, match=r"member-0/split\.json: this member started on another split"
    ):
        train_ensemble(
            make, tiny_loaders, change.get("n", 2), config, tmp_path / "ens", resplit,
            log=None, k_fold=change.get("k_fold", False),
        )  # fmt: skip
    again = train_ensemble(make, tiny_loaders, 2, config, tmp_path / "ens", log=None, **first)
    assert len(again.members) == 2  # the first settings still resume


def test_a_changed_split_of_a_later_member_is_refused_before_any_member_trains(
    tiny_loaders, tmp_path
):
    config = TrainConfig(device="cpu", progress=False, batch_size=4, max_epochs=1)
    make = lambda i: make_standin(tiny_loaders, seed=i)  # noqa: E731
    train_ensemble(make, tiny_loaders, 2, config, tmp_path / "ens", log=None)
    record = tmp_path / "ens/member-1/split.json"
    split = json.loads(record.read_text())
    record.write_text(json.dumps({**split, "seed": split["seed"] + 100}))
    lines: list[str] = []
    with pytest.raises(NeurotwinError, match=r"member-1/split\.json: this member started"):
        train_ensemble(make, tiny_loaders, 2, config, tmp_path / "ens", log=lines.append)
    assert lines == []  # member 0 was not resumed, nor announced
