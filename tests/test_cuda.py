"""The CUDA paths against their CPU twins; every test is skipped where no GPU is present.

CI has no GPU, so these run only on a machine with one (``pytest tests/test_cuda.py``).
They train a static and a video twin on the GPU (the dwise recipe with bf16 autocast and
``channels_last_3d``), check that a model moved to the GPU predicts what it predicts on the
CPU, that the Gaussian readout's values and gradients agree between the devices, and that
the PMD factorisation of a block batch on the GPU finds the CPU's components.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from model_helpers import TINY_DWISE
from neurotwin.models import load_model
from neurotwin.train import TrainConfig, fit
from neurotwin.train.optim import recipe
from tiny import write_static

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _finite_history(history: list[dict]) -> None:
    losses = [h["train_loss"] for h in history if h["epoch"] > 0]
    assert losses and all(math.isfinite(v) for v in losses)


def test_a_static_twin_trains_on_cuda_and_predicts_as_on_the_cpu(tmp_path: Path) -> None:
    path = write_static(tmp_path / "rec", hw=(36, 64))
    config = TrainConfig(max_epochs=2, device="cuda", batch_size=16, progress=False)
    result = fit(path, "sensorium+", tmp_path / "run", config, image_size=(36, 64), log=None)
    _finite_history(result.history)
    cpu = load_model(tmp_path / "run" / "model.pt")
    gpu = load_model(tmp_path / "run" / "model.pt").to("cuda")
    key = next(iter(cpu.infos))
    images = np.random.default_rng(0).uniform(0, 255, (6, *cpu.infos[key].image_hw))
    behavior = np.ones((6, 3), np.float32)
    pupil = np.zeros((6, 2), np.float32)
    want = cpu.predict_responses(images, key, behavior=behavior, pupil_center=pupil)
    got = gpu.predict_responses(images, key, behavior=behavior, pupil_center=pupil)
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


def test_video_dwise_trains_on_cuda_with_bf16_and_predicts_as_on_the_cpu(
    video_mice: list[Path], video_cache: Path, tmp_path: Path
) -> None:
    config = recipe("dwise", max_epochs=2, batch_size=2, device="cuda", progress=False)
    assert config.bf16 and config.channels_last_3d
    result = fit(
        video_mice, "video-dwise", tmp_path / "run", config, cache_dir=video_cache,
        frames=8, log=None, **TINY_DWISE,
    )  # fmt: skip
    _finite_history(result.history)
    assert (tmp_path / "run" / "model.pt").exists()
    from neurotwin.models.video_inference import predict_trial_sliding

    cpu = load_model(tmp_path / "run" / "model.pt")
    gpu = load_model(tmp_path / "run" / "model.pt").to("cuda")
    key = next(iter(cpu.infos))
    h, w = cpu.infos[key].image_hw
    video = np.random.default_rng(0).uniform(0, 255, (30, h, w))
    behavior = np.ones((2, 30), np.float32)
    pupil = np.zeros((2, 30), np.float32)
    want = predict_trial_sliding(cpu, key, video, behavior=behavior, pupil_center=pupil)
    got = predict_trial_sliding(gpu, key, video, behavior=behavior, pupil_center=pupil)
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


def test_video_gru_trains_on_cuda(
    video_mice: list[Path], video_cache: Path, tmp_path: Path
) -> None:
    config = TrainConfig(max_epochs=1, device="cuda", batch_size=2, progress=False)
    result = fit(
        video_mice, "video-gru", tmp_path / "run", config, cache_dir=video_cache, frames=30,
        log=None, core={"hidden_channels": 4, "layers": 2, "gru_channels": 4},
    )  # fmt: skip
    _finite_history(result.history)


def test_the_gaussian_readout_agrees_between_devices() -> None:
    from model_helpers import make_info
    from neurotwin.models import FullGaussianReadout, GaussianReadoutConfig

    torch.manual_seed(0)
    config = GaussianReadoutConfig(grid_mean_predictor=True, init_sigma=0.6)
    cpu = FullGaussianReadout(config, make_info("1-1-1", 40), in_channels=3, in_hw=(5, 9))
    gpu = FullGaussianReadout(config, make_info("1-1-1", 40), in_channels=3, in_hw=(5, 9))
    gpu.load_state_dict(cpu.state_dict())
    gpu.to("cuda")
    x = torch.randn(6, 3, 5, 9)
    shift = torch.rand(6, 2) - 0.5
    results = []
    for readout, device in ((cpu.eval(), "cpu"), (gpu.eval(), "cuda")):
        inputs = [x.to(device).requires_grad_(True), shift.to(device).requires_grad_(True)]
        out = readout(*inputs)
        grads = torch.autograd.grad(out.square().sum(), [*inputs, readout.features])
        results.append([t.detach().cpu() for t in (out, *grads)])
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)


def test_pmd_on_cuda_finds_the_cpus_components() -> None:
    from neurotwin.imaging import FitSettings
    from neurotwin.imaging.factorize import fit_blocks

    rng = np.random.default_rng(0)
    frames, side = 300, 16
    spatial = rng.random((side * side, 2))
    temporal = np.cumsum(rng.standard_normal((2, frames)), axis=1)
    noisy = spatial @ temporal + rng.standard_normal((side * side, frames))
    noisy -= noisy.mean(axis=1, keepdims=True)
    blocks = np.stack([noisy, noisy[::-1]]).astype(np.float32)
    settings = FitSettings(method="pmd", max_components=2)
    cpu = fit_blocks(blocks, (side, side), settings, (np.inf, np.inf), "cpu")
    gpu = fit_blocks(blocks, (side, side), settings, (np.inf, np.inf), "cuda")
    for a, b in zip(cpu, gpu, strict=True):
        assert a.spatial.shape == b.spatial.shape
        overlap = np.abs(a.spatial.T @ b.spatial).diagonal()
        np.testing.assert_allclose(overlap, 1, atol=1e-2)


def test_pmd_on_cuda_with_several_worker_threads_in_a_fresh_process(tmp_path: Path) -> None:
    # torch loads its CUDA linear algebra on the first call; worker threads making that first
    # call at once failed ("lazy wrapper should be called at most once"), so this runs in a
    # process of its own, where no earlier test has loaded the library.
    import subprocess
    import sys

    script = (
        "import numpy as np\n"
        "from neurotwin.imaging import denoise_movie, simulate_movie\n"
        "sim = simulate_movie(frames=300, height=48, width=48, neurons=8, snr=1.0)\n"
        "result = denoise_movie(sim.movie, None, block=(16, 16), device='cuda', workers=4)\n"
        "assert result.info['device'] == 'cuda' and result.ranks.sum() > 0\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
