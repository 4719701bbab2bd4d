"""Seconds of the video cores' factorised convolutions: ``conv3d`` against ``FactorisedConv3d``.

The ``video-3d`` core's spatial ``(1, k, k)`` and temporal ``(k, 1, 1)`` kernels and the
depthwise kernels of ``video-dwise`` run as
:class:`~neurotwin.models.factorised_conv.FactorisedConv3d`, which computes them as 2-D
convolutions. For each named core (``--cores``), on one training batch of random frames
(``--batch`` windows of ``--frames`` frames at 36 x 64, 5 input channels: the frame,
behaviour and pupil centre), this times, in one process on the same
weights and inputs, forward and backward of:

- every factorised layer alone (``layers``: its kernel, input shape, seconds each way and
  the speed-up), and
- the whole core (``core``), once as built and once with every factorised layer switched
  back to torch's ``conv3d`` (the same module with ``nn.Conv3d``'s forward), so the ratio is
  the speed-up the cores see.

Medians over ``--repeats`` after one warm-up. Prints JSON. ``--dwise-core`` adds one more
core, ``video-dwise-small+core``: the small dwise core with the given settings changed
(JSON, e.g. the CPU core of the accuracy benchmark,
``'{"widths": [8, 16, 16, 32], "strides": [2, 1, 1, 1], "window": 40}'``).

    python benchmarks/conv_speed.py [--cores video-3d-small video-3d video-dwise-small]
        [--batch 8] [--frames 80] [--threads 1] [--dwise-core JSON]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from neurotwin.config import apply_overrides
from neurotwin.models.factorised_conv import FactorisedConv3d
from neurotwin.models.video_3d import Factorized3dCore, Factorized3dCoreConfig
from neurotwin.models.video_dwise import SMALL_CORE, DwiseCore, DwiseCoreConfig

INPUT_CHANNELS = 5
HW = (36, 64)


def _cores(dwise_core: dict[str, Any] | None = None) -> dict[str, Callable[[], nn.Module]]:
    small_3d = Factorized3dCoreConfig(hidden_channels=(16, 32))
    small_dwise = DwiseCoreConfig(**SMALL_CORE)
    cores: dict[str, Callable[[], nn.Module]] = {
        "video-3d-small": lambda: Factorized3dCore(small_3d, INPUT_CHANNELS),
        "video-3d": lambda: Factorized3dCore(Factorized3dCoreConfig(), INPUT_CHANNELS),
        "video-dwise-small": lambda: DwiseCore(small_dwise, INPUT_CHANNELS),
    }
    if dwise_core is not None:
        changed = apply_overrides(small_dwise, dwise_core, where="--dwise-core")
        cores["video-dwise-small+core"] = lambda: DwiseCore(changed, INPUT_CHANNELS)
    return cores


def _median_seconds(
    run: Callable[[], torch.Tensor], inputs: Sequence[torch.Tensor], repeats: int
) -> dict[str, float]:
    forward, backward = [], []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        out = run()
        middle = time.perf_counter()
        torch.autograd.grad(out.float().square().mean(), inputs)
        forward.append(middle - start)
        backward.append(time.perf_counter() - middle)
    return {
        "forward_s": float(np.median(forward[1:])),
        "backward_s": float(np.median(backward[1:])),
        "total_s": float(np.median(np.add(forward, backward)[1:])),
    }


@contextlib.contextmanager
def _as_conv3d(core: nn.Module) -> Iterator[None]:
    """Run every FactorisedConv3d of ``core`` as torch's Conv3d inside the block."""
    layers = [m for m in core.modules() if isinstance(m, FactorisedConv3d)]
    for layer in layers:
        layer.__class__ = nn.Conv3d  # type: ignore[assignment]
    try:
        yield
    finally:
        for layer in layers:
            layer.__class__ = FactorisedConv3d


def _layer_inputs(core: nn.Module, x: torch.Tensor) -> list[tuple[FactorisedConv3d, torch.Tensor]]:
    seen: list[tuple[FactorisedConv3d, torch.Tensor]] = []
    hooks = [
        m.register_forward_pre_hook(lambda m, args: seen.append((m, args[0].detach().clone())))
        for m in core.modules()
        if isinstance(m, FactorisedConv3d)
    ]
    with torch.no_grad():
        core(x)
    for hook in hooks:
        hook.remove()
    return seen


def measure(build: Callable[[], nn.Module], args: argparse.Namespace) -> dict:
    """Per-layer and whole-core seconds of one core, both ways, on the same tensors."""
    torch.manual_seed(0)
    core = build().train()
    x = torch.randn(args.batch, INPUT_CHANNELS, args.frames, *HW)
    layers = []
    for layer, inp in _layer_inputs(core, x):
        inp.requires_grad_(True)
        inputs = [inp, layer.weight]
        factorised = _median_seconds(lambda: layer(inp), inputs, args.repeats)  # noqa: B023
        conv3d = _median_seconds(
            lambda: nn.Conv3d.forward(layer, inp),  # noqa: B023
            inputs,
            args.repeats,
        )
        layers.append(
            {
                "kernel": list(layer.kernel_size),
                "groups": layer.groups,
                "input_shape": list(inp.shape),
                "conv3d": conv3d,
                "factorised": factorised,
                "speedup": conv3d["total_s"] / factorised["total_s"],
            }
        )
    params = [p for p in core.parameters() if p.requires_grad]
    built = _median_seconds(lambda: core(x), params, args.repeats)
    with _as_conv3d(core):
        plain = _median_seconds(lambda: core(x), params, args.repeats)
    return {
        "core": {
            "conv3d": plain,
            "factorised": built,
            "speedup": plain["total_s"] / built["total_s"],
        },
        "layers": layers,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", nargs="+", default=None, help="default: all")
    parser.add_argument("--dwise-core", type=json.loads, default=None)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--frames", type=int, default=80)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cores = _cores(args.dwise_core)
    names = args.cores or list(cores)
    unknown = sorted(set(names) - set(cores))
    if unknown:
        parser.error(f"unknown cores {unknown}; known: {', '.join(cores)}")
    torch.set_num_threads(args.threads)
    result = {
        "batch": args.batch,
        "frames": args.frames,
        "hw": list(HW),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "dwise_core": args.dwise_core,
        "cores": {name: measure(cores[name], args) for name in names},
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
