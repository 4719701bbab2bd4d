"""Seconds of the Gaussian readout's read-out step: the fused CPU kernel against ``grid_sample``.

Times, in one process on the same tensors, ``(grid_sample(x, grid) * features).sum(1)``
(what the readout computed before, and the 2022 kit's ``FullGaussian2d``) and
:func:`neurotwin.models.readout_kernel.sample_and_weight`: forward, and backward to the
feature maps, the positions and the features. Defaults: a training batch of the kit's
``sensorium`` at 8,000 neurons (batch 128, 64 channels on the 28 x 56 map, channels-last,
positions uniform over the map). Medians over ``--repeats`` after one warm-up (which also
compiles the kernel). The process keeps freed memory, as the trainer does on a CPU
(``--no-keep-freed-memory``: glibc's default). Prints JSON.

    python benchmarks/readout_speed.py [--batch 128] [--neurons 8000] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import numpy as np
import torch

from neurotwin.models.readout_kernel import read_with_grid_sample, sample_and_weight
from neurotwin.train.allocator import keep_freed_memory

Read = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, bool], torch.Tensor]


def timed(read: Read, tensors: list[torch.Tensor], repeats: int) -> dict[str, float]:
    """Median forward and backward seconds of ``read``."""
    weights = torch.randn(tensors[1].shape[:2])
    forward, backward = [], []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        out = read(tensors[0], tensors[1], tensors[2], True)
        middle = time.perf_counter()
        torch.autograd.grad((out * weights).sum(), tensors)
        forward.append(middle - start)
        backward.append(time.perf_counter() - middle)
    return {
        "forward_seconds": float(np.median(forward[1:])),
        "backward_seconds": float(np.median(backward[1:])),
        "total_seconds": float(np.median(np.add(forward, backward)[1:])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--neurons", type=int, default=8000)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--height", type=int, default=28)
    parser.add_argument("--width", type=int, default=56)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-keep-freed-memory", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    kept = not args.no_keep_freed_memory and keep_freed_memory()
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, args.channels, args.height, args.width, generator=generator)
    x = x.contiguous(memory_format=torch.channels_last)
    grid = torch.rand(args.batch, args.neurons, 2, generator=generator) * 2 - 1
    features = torch.randn(args.channels, args.neurons, generator=generator)
    tensors = [t.requires_grad_(True) for t in (x, grid, features)]
    result: dict[str, object] = {
        "batch": args.batch,
        "neurons": args.neurons,
        "channels": args.channels,
        "map_hw": [args.height, args.width],
        "threads": torch.get_num_threads(),
        "keep_freed_memory": kept,
        "grid_sample": timed(read_with_grid_sample, tensors, args.repeats),
        "fused_kernel": timed(sample_and_weight, tensors, args.repeats),
    }
    slow, fast = result["grid_sample"], result["fused_kernel"]
    assert isinstance(slow, dict) and isinstance(fast, dict)
    result["speedup"] = slow["total_seconds"] / fast["total_seconds"]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
