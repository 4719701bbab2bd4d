"""The body of each process of the distributed test (importable by spawned processes)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from model_helpers import TINY_DWISE
from neurotwin.data import static_loaders
from neurotwin.train import TrainConfig, train
from train.standin import make_standin

#: The recipe of the distributed test: batches of 3 give validation shards of 3 and 1 trials.
CONFIG = TrainConfig(
    device="cpu", progress=False, batch_size=3, max_epochs=2, seed=5, channels_last=False
)


def loaders(tiny: dict[str, Any]) -> Any:
    return static_loaders(
        tiny["paths"], 3, tiers=("train", "validation"), cache_dir=tiny["cache_dir"], progress=False
    )


def _as_torchrun_process(rank: int, world_size: int, port: int) -> None:
    """Set the environment ``torchrun`` gives process ``rank``, on one CPU thread."""
    os.environ.update(
        WORLD_SIZE=str(world_size),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)


def run(rank: int, world_size: int, port: int, tiny: dict[str, Any], folder: str) -> None:
    """Train like one process of ``torchrun --nproc_per_node world_size`` would."""
    _as_torchrun_process(rank, world_size, port)
    data = loaders(tiny)
    model = make_standin(data, seed=rank)  # DDP makes every process start from rank 0's weights
    result = train(model, data, CONFIG, Path(folder) / "run", log=None)
    torch.save(result.model.state_dict(), Path(folder) / f"rank{rank}.pt")
    summary = {
        "best_correlation": result.best_correlation,
        "best_epoch": result.best_epoch,
        "history": [e["validation_correlation"] for e in result.history],
    }
    (Path(folder) / f"rank{rank}.json").write_text(json.dumps(summary))


def dwise_config() -> TrainConfig:
    """The dwise recipe (EMA, CutMix, cosine) for two short epochs on one CPU thread."""
    from neurotwin.train.optim import recipe

    return recipe("dwise", max_epochs=2, batch_size=2, device="cpu", progress=False, seed=5)


def run_dwise(
    rank: int, world_size: int, port: int, paths: list[str], cache: str, folder: str
) -> None:
    """Train ``video-dwise`` as one process of ``torchrun --nproc_per_node world_size``."""
    from neurotwin.train import fit

    _as_torchrun_process(rank, world_size, port)
    result = fit(
        paths, "video-dwise", Path(folder) / "run", dwise_config(), cache_dir=cache, frames=8,
        log=None, **TINY_DWISE,
    )  # fmt: skip
    torch.save(result.model.state_dict(), Path(folder) / f"rank{rank}.pt")
    summary = {
        "best_correlation": result.best_correlation,
        "history": [e["validation_correlation"] for e in result.history],
    }
    (Path(folder) / f"rank{rank}.json").write_text(json.dumps(summary))
