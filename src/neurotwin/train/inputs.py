"""What the trainer takes from its loaders: checks, and the batches of every epoch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from torch.utils.data import DataLoader

from neurotwin.data.datasets import StaticTrials
from neurotwin.data.loaders import epoch_sampler
from neurotwin.errors import NeurotwinError
from neurotwin.train.config import TrainConfig
from neurotwin.train.distributed import DistEnv
from neurotwin.train.sampling import shard

if TYPE_CHECKING:
    from neurotwin.models.contract import TwinModel

Loaders = Mapping[str, Mapping[str, DataLoader[Any]]]


def epoch_batches_of(
    loaders: Mapping[str, DataLoader[Any]], epoch: int, seed: int, env: DistEnv
) -> dict[str, list[np.ndarray]]:
    """Return this process's batches of every training loader in one epoch.

    Each loader's batch size and shuffling are its own; the order is a pure function of
    ``(seed, epoch, position of the recording, rank)``, so a resumed run draws the same.

    Parameters
    ----------
    loaders
        ``{recording_key: DataLoader}`` of the train tier.
    epoch
        The epoch.
    seed
        The recipe's seed.
    env
        This process's place (its share of the batches, padded to equal counts).

    Returns
    -------
    dict
        ``{recording_key: [positions of each batch]}``.
    """
    return {
        key: shard(
            epoch_sampler(loader).for_epoch(epoch, seed=seed, stream=stream),
            env.rank,
            env.world_size,
            pad=True,
        )
        for stream, (key, loader) in enumerate(loaders.items())
    }


def checked_loaders(
    model: TwinModel, loaders: Loaders, config: TrainConfig
) -> tuple[dict[str, DataLoader[Any]], dict[str, DataLoader[Any]]]:
    """Return the train and validation loaders, refusing what the trainer cannot use.

    Parameters
    ----------
    model
        The model (its recording keys).
    loaders
        ``{tier: {recording_key: DataLoader}}``.
    config
        The recipe (its batch size).

    Returns
    -------
    tuple of dict
        The ``train`` and ``validation`` loaders.

    Raises
    ------
    NeurotwinError
        For a missing tier, a recording the model has no readout for, a loader not built by
        neurotwin or of another batch size than the recipe's, or withheld responses.
    """
    missing = [t for t in ("train", "validation") if not loaders.get(t)]
    if missing:
        raise NeurotwinError(
            f"the loaders have no {' or '.join(missing)} tier "
            f"(tiers: {', '.join(loaders) or 'none'})"
        )
    keys = model.keys
    out: list[dict[str, DataLoader[Any]]] = []
    for tier in ("train", "validation"):
        tier_loaders = {}
        for key, loader in loaders[tier].items():
            if key not in keys:
                raise NeurotwinError(
                    f"the {tier} loaders hold recording {key!r} but the model has no readout "
                    f"for it (model keys: {', '.join(keys)})"
                )
            try:
                batch_size = epoch_sampler(loader).batch_size
            except ValueError as exc:
                raise NeurotwinError(f"the {tier} loader of recording {key!r} is {exc}") from exc
            if batch_size != config.batch_size:
                raise NeurotwinError(
                    f"the {tier} loader of recording {key!r} has batches of {batch_size} but the "
                    f"recipe's batch_size is {config.batch_size}: build the loaders with "
                    "the recipe's batch size, or set TrainConfig(batch_size=...) to theirs"
                )
            dataset = loader.dataset
            fields = dataset.fields if isinstance(dataset, StaticTrials) else ("responses",)
            if "responses" not in fields:
                raise NeurotwinError(
                    f"the {tier} tier of recording {key!r} has no responses (withheld?)"
                )
            tier_loaders[key] = loader
        out.append(tier_loaders)
    return out[0], out[1]
