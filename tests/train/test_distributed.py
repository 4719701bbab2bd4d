import json
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from neurotwin.train.evaluate import validation_correlation
from train.ddp_worker import CONFIG, loaders, run
from train.standin import make_standin

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="torch has no gloo backend"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_processes_train_together_and_score_like_one(tiny_paths, tmp_path):
    data = loaders(tiny_paths)  # builds the caches before the processes read them
    mp.spawn(run, args=(2, _free_port(), tiny_paths, str(tmp_path)), nprocs=2, join=True)

    weights = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for name, value in weights[0].items():
        assert torch.equal(weights[1][name], value), name  # the processes stayed in step
    summaries = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert summaries[0] == summaries[1]  # same scores, same decisions on every process

    # only rank 0 wrote the run folder
    run_folder = tmp_path / "run"
    assert sorted(p.name for p in run_folder.iterdir()) == [
        "checkpoint.pt", "config.json", "metrics.jsonl", "model.pt"
    ]  # fmt: skip
    assert json.loads((run_folder / "config.json").read_text())["world_size"] == 2

    # the gathered score of the best weights equals the single-process score of those weights
    model = make_standin(data)
    model.load_state_dict(weights[0])
    sets = {k: v.dataset for k, v in data["validation"].items()}
    single, _ = validation_correlation(model, sets, CONFIG.batch_size, torch.device("cpu"))
    assert summaries[0]["best_correlation"] == pytest.approx(single, abs=1e-6)
    # and it is not the score of one process's half (rank 1 sees 1 of 4 trials per recording)
    assert summaries[0]["history"][0] != 0.0


def test_video_dwise_trains_in_two_processes_with_its_recipe(video_mice, video_cache, tmp_path):
    from model_helpers import TINY_DWISE
    from neurotwin.train.fitting import _prepare
    from train.ddp_worker import dwise_config, run_dwise

    paths = [str(p) for p in video_mice]
    # build the caches before the processes read them
    _prepare(paths, "video-dwise", dwise_config().replace(window=8), video_cache, None, TINY_DWISE)
    args = (2, _free_port(), paths, str(video_cache), str(tmp_path))
    mp.spawn(run_dwise, args=args, nprocs=2, join=True)

    weights = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for name, value in weights[0].items():
        assert torch.equal(weights[1][name], value), name  # the processes stayed in step
    summaries = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert summaries[0] == summaries[1]
    assert len(summaries[0]["history"]) == 3  # epoch 0 and the two epochs of the schedule
    run_folder = tmp_path / "run"
    assert json.loads((run_folder / "config.json").read_text())["world_size"] == 2
    checkpoint = torch.load(run_folder / "checkpoint.pt", weights_only=False)
    assert checkpoint.get("ema") is not None  # the weight average is saved for a resume
