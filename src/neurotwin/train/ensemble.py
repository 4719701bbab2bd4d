"""Ensembles: several members trained on different train/validation re-splits or seeds."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from neurotwin.data.datasets import StaticTrials, VideoClips
from neurotwin.data.loaders import EpochBatches, batch_loader, epoch_sampler
from neurotwin.errors import NeurotwinError
from neurotwin.train import checkpoint as files
from neurotwin.train.config import TrainConfig
from neurotwin.train.distributed import DistEnv, barrier, start, stop
from neurotwin.train.trainer import Log, TrainResult, train

if TYPE_CHECKING:
    from neurotwin.models.contract import TwinModel

Loaders = Mapping[str, Mapping[str, DataLoader[Any]]]
#: Each member's record of how its data were split (``member-{i}/split.json``).
SPLIT_FILE = "split.json"


@dataclass
class EnsembleResult:
    """What :func:`train_ensemble` returns.

    Attributes
    ----------
    members
        The trained members (best weights), in order; ``neurotwin.models.Ensemble(members)``
        averages them.
    results
        Each member's :class:`~neurotwin.train.TrainResult`.
    out
        The ensemble's folder (``member-{i}/`` inside).
    """

    members: list[TwinModel]
    results: list[TrainResult]
    out: Path


def _like(
    loader: DataLoader[Any], dataset: StaticTrials, shuffle: bool, seed: int, stream: int
) -> DataLoader[Any]:
    """Return a loader like ``loader`` (batch size, workers, pinning) over another dataset."""
    sampler = EpochBatches(
        len(dataset),
        epoch_sampler(loader).batch_size,
        shuffle=shuffle,
        seed=seed,
        stream=stream,
    )
    return batch_loader(
        dataset, sampler, num_workers=loader.num_workers, pin_memory=loader.pin_memory
    )


def _subset(dataset: StaticTrials, indices: np.ndarray) -> StaticTrials:
    """Return a dataset like ``dataset`` (cache, normaliser, fields, clips) over ``indices``."""
    if isinstance(dataset, VideoClips):
        return VideoClips(
            dataset.cache,
            indices,
            dataset.normalizer,
            dataset.fields,
            dataset.frames,
            dataset.random_start,
            dataset.max_frames,
        )
    return StaticTrials(dataset.cache, indices, dataset.normalizer, dataset.fields)


def resplit_loaders(
    loaders: Loaders, seed: int, fold: tuple[int, int] | None = None
) -> dict[str, dict[str, DataLoader[Any]]]:
    """Pool each recording's train and validation trials and split them again.

    Without ``fold``, the new validation tier has as many trials as the old one; which
    trials go where is a function of ``seed`` (and the recording's position). With
    ``fold=(i, k)``, the pooled trials are put in an order given by ``seed`` and cut into
    ``k`` disjoint folds of near-equal size (sizes differ by at most one); fold ``i`` is the
    validation tier and the other ``k - 1`` the training tier, so the members of a k-fold
    ensemble (same ``seed``, ``i = 0 .. k-1``) validate on every pooled trial exactly once.
    Datasets share the originals' cache, normaliser and fields (video: the training windows
    and the whole validation trials); other tiers are kept as they are.

    Parameters
    ----------
    loaders
        ``{tier: {recording_key: DataLoader}}`` with ``train`` and ``validation`` tiers of
        :class:`~neurotwin.data.StaticTrials` (static) or
        :class:`~neurotwin.data.datasets.VideoClips` (video: its ``oracle`` trials are the
        validation tier, as :func:`~neurotwin.train.fit` hands them over).
    seed
        Seed of the split (of the trials' order, with ``fold``).
    fold
        ``(i, k)``: validate on fold ``i`` of ``k`` (``0 <= i < k``, ``k >= 2``).

    Returns
    -------
    dict
        New loaders (``train`` shuffled, ``validation`` in order).

    Raises
    ------
    NeurotwinError
        When a recording lacks one of the two tiers or its datasets are not trials of one
        kind and one cache; when ``fold`` is out of range or a recording has fewer than 2
        pooled trials per fold.
    """
    if fold is not None and not (fold[1] >= 2 and 0 <= fold[0] < fold[1]):
        raise NeurotwinError(
            f"cannot re-split into fold {fold[0]} of {fold[1]}: "
            "k-fold needs at least 2 folds and 0 <= fold < k"
        )
    for tier in ("train", "validation"):
        if not loaders.get(tier):
            raise NeurotwinError(f"cannot re-split: the loaders have no {tier} tier")
    out: dict[str, dict[str, DataLoader[Any]]] = {t: dict(v) for t, v in loaders.items()}
    for stream, (key, train_loader) in enumerate(loaders["train"].items()):
        if key not in loaders["validation"]:
            raise NeurotwinError(f"cannot re-split recording {key!r}: it has no validation tier")
        old_train, old_val = train_loader.dataset, loaders["validation"][key].dataset
        kind = type(old_train)
        for dataset in (old_train, old_val):
            if type(dataset) not in (StaticTrials, VideoClips) or type(dataset) is not kind:
                raise NeurotwinError(
                    f"cannot re-split recording {key!r}: its datasets are "
                    f"{type(old_train).__name__} and {type(old_val).__name__}, not both "
                    "StaticTrials or both VideoClips"
                )
        assert isinstance(old_train, StaticTrials) and isinstance(old_val, StaticTrials)
        if old_train.cache.path != old_val.cache.path or old_train.fields != old_val.fields:
            raise NeurotwinError(
                f"cannot re-split recording {key!r}: train and validation come from different "
                "caches or carry different fields"
            )
        pool = np.concatenate([old_train.indices, old_val.indices])
        order = np.random.default_rng([seed, stream]).permutation(len(pool))
        if fold is None:
            val_at, train_at = order[: len(old_val)], order[len(old_val) :]
        else:
            if len(pool) < 2 * fold[1]:  # a correlation over one trial is undefined
                raise NeurotwinError(
                    f"cannot cut recording {key!r} into {fold[1]} folds of at least 2 "
                    f"trials: it has {len(pool)} train and validation trials"
                )
            folds = np.array_split(order, fold[1])
            val_at = folds[fold[0]]
            train_at = np.concatenate([f for j, f in enumerate(folds) if j != fold[0]])
        val = _subset(old_val, np.sort(pool[val_at]))
        tra = _subset(old_train, np.sort(pool[train_at]))
        out["train"][key] = _like(train_loader, tra, shuffle=True, seed=seed, stream=stream)
        out["validation"][key] = _like(
            loaders["validation"][key], val, shuffle=False, seed=seed, stream=stream
        )
    return out


def check_ensemble(n_members: int, resplit: bool, k_fold: bool) -> None:
    """Refuse an ensemble that cannot be trained, before anything is built.

    Raises
    ------
    NeurotwinError
        For fewer than one member; with ``k_fold``, for fewer than two members or without
        ``resplit``.
    """
    if n_members < 1:
        raise NeurotwinError(f"an ensemble needs at least one member, got {n_members}")
    if k_fold and (n_members < 2 or not resplit):
        raise NeurotwinError(
            "a k-fold ensemble needs at least 2 members and re-split data, got "
            f"{n_members} member(s) and resplit={resplit}"
        )


def _split_record(
    loaders: Loaders, resplit: bool, fold: tuple[int, int] | None, seed: int
) -> dict[str, Any]:
    """How a member's data were split, with a digest of each recording's validation trials."""
    digests: dict[str, str | None] = {}
    for key, loader in loaders["validation"].items():
        dataset = loader.dataset
        if isinstance(dataset, StaticTrials):
            trials = np.sort(np.asarray(dataset.indices, dtype=np.int64))
            digests[key] = hashlib.sha256(trials.tobytes()).hexdigest()
        else:  # a dataset of another kind: its trials cannot be named
            digests[key] = None
    return {
        "mode": "k-fold" if fold is not None else "resplit" if resplit else "none",
        "fold": None if fold is None else list(fold),
        "seed": seed if resplit else None,
        "validation_digests": digests,
    }


def _describe(split: Any) -> str:
    if not isinstance(split, dict):
        return repr(split)
    return ", ".join(f"{k} {split.get(k)}" for k in ("mode", "fold", "seed"))


def _keep_split(folder: Path, split: dict[str, Any], resume: bool, is_main: bool) -> None:
    """Record a member's split, or refuse to resume its checkpoint on another one."""
    path = folder / SPLIT_FILE
    if resume and path.is_file() and (folder / files.CHECKPOINT).exists():
        try:
            before = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise NeurotwinError(f"{path}: unreadable split record ({error})") from None
        if before != split:
            raise NeurotwinError(
                f"{path}: this member started on another split ({_describe(before)}) than "
                f"it would resume on ({_describe(split)}); resume with the ensemble's first "
                "settings, or train into a new folder"
            )
        return
    if is_main:
        folder.mkdir(parents=True, exist_ok=True)
        files.write_json(path, split)


def train_ensemble(
    make_model: Callable[[int], TwinModel],
    loaders: Loaders,
    n_members: int,
    config: TrainConfig | None = None,
    out: str | Path = "ensemble",
    resplit: bool = True,
    resume: bool = True,
    log: Log | None = print,
    *,
    k_fold: bool = False,
) -> EnsembleResult:
    """Train ``n_members`` models, each in its own folder ``out/member-{i}/``.

    Member ``i`` uses seed ``config.seed + i`` (its initial weights, its shuffling and,
    with ``resplit`` and without ``k_fold``, its train/validation split). With ``k_fold``,
    member ``i`` validates on fold ``i`` of ``n_members`` disjoint folds of each
    recording's pooled train and validation trials (cut in an order given by
    ``config.seed``; :func:`resplit_loaders`). Finished members are not trained again:
    their checkpoint says so and :func:`~neurotwin.train.train` returns at once. Each
    member's split is recorded in ``member-{i}/split.json`` before it trains (mode, fold,
    seed and a digest of every recording's validation trials); resuming a member on
    another split (``k_fold`` or ``resplit`` changed, another ``n_members`` with
    ``k_fold``, another seed) is refused.

    Parameters
    ----------
    make_model
        Builds member ``i`` (torch is seeded with the member's seed before the call).
    loaders
        ``{tier: {recording_key: DataLoader}}``.
    n_members
        Number of members.
    config
        The recipe of every member.
    out
        The ensemble's folder.
    resplit
        Train each member on its own re-split of the train and validation trials
        (:func:`resplit_loaders`); otherwise only the seeds differ. ``k_fold`` needs it.
    resume
        Resume (or skip) members from their checkpoints.
    log
        Called with progress lines.
    k_fold
        Split into ``n_members`` (at least 2) disjoint validation folds instead of
        independent re-splits.

    Returns
    -------
    EnsembleResult
        The members and their results.

    Raises
    ------
    NeurotwinError
        For fewer than one member; with ``k_fold``, for fewer than two members, without
        ``resplit``, or when a recording has fewer than 2 trials per fold; when a member
        would resume on another split than it started on.
    """
    check_ensemble(n_members, resplit, k_fold)
    config = config or TrainConfig()
    out = Path(out)
    env = DistEnv.from_environ()
    say = log if log is not None and env.is_main else None
    started = False
    if env.distributed:  # one process group for all members
        from neurotwin.train.config import resolve_device

        started = start(env, resolve_device(config.device, env.local_rank))
    try:
        split_loaders: list[Loaders] = []  # every member's split is checked before any trains
        for i in range(n_members):
            fold = (i, n_members) if k_fold else None
            split_seed = config.seed if k_fold else config.seed + i
            member_loaders = resplit_loaders(loaders, split_seed, fold) if resplit else loaders
            split = _split_record(member_loaders, resplit, fold, split_seed)
            _keep_split(out / f"member-{i}", split, resume, env.is_main)
            split_loaders.append(member_loaders)
        results = []
        for i, member_loaders in enumerate(split_loaders):
            member = config.replace(seed=config.seed + i)
            if say is not None:
                say(f"member {i + 1} of {n_members} (seed {member.seed})")
            torch.manual_seed(member.seed)
            model = make_model(i)
            results.append(train(model, member_loaders, member, out / f"member-{i}", resume, log))
        if env.is_main:
            files.write_json(
                out / "ensemble.json",
                {
                    "members": [
                        {
                            "folder": f"member-{i}",
                            "seed": config.seed + i,
                            "fold": [i, n_members] if k_fold else None,
                            "best_epoch": r.best_epoch,
                            "best_correlation": r.best_correlation,
                            "stop_reason": r.stop_reason,
                        }
                        for i, r in enumerate(results)
                    ],
                    "resplit": resplit,
                    "k_fold": k_fold,
                    "train": config.to_dict(),
                },
            )
        barrier()
    finally:
        stop(started)
    return EnsembleResult([r.model for r in results], results, out)
