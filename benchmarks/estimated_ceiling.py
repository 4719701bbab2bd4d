"""Estimated single-trial ceiling against the true images-only ceiling; prints JSON lines.

Simulates static mice (200 neurons, tiny preset otherwise) with a given number of test images
and repeats, and compares, per scored tier, the mean estimated ceiling from repeats
(:func:`neurotwin.scoring.ceilings.estimated_ceiling`) with the single-trial correlation of
the simulator's images-only rate (``rates_stimulus_only``) and of its full rate. The numbers
in docs/concepts.md ("Estimated ceiling") come from it.

Run: ``python benchmarks/estimated_ceiling.py 10x10,20x10,30x10,50x10,100x10,100x4 0,1``
"""

from __future__ import annotations

import json
import sys
import tempfile

import numpy as np

from neurotwin.scoring import make_truth
from neurotwin.scoring.ceilings import estimated_ceiling, estimated_ceiling_sd
from neurotwin.scoring.metrics import single_trial_correlation
from neurotwin.simulate import simulate_static


def main(sizes: str = "10x4,50x10,100x10", seeds: str = "0") -> None:
    """Print one JSON line per size, seed and scored tier."""
    for size in sizes.split(","):
        n_images, repeats = (int(x) for x in size.split("x"))
        for seed in (int(s) for s in seeds.split(",")):
            with tempfile.TemporaryDirectory() as tmp:
                (sim,) = simulate_static(
                    tmp, preset="tiny", seed=seed, neurons=200, train=40, validation=10,
                    test_images=n_images, test_repeats=repeats,
                )  # fmt: skip
                truth = make_truth("sensorium", [sim.path])
                for tier, t in truth.mice[0].tiers.items():
                    est = estimated_ceiling(t)
                    assert est is not None and t.rates is not None
                    only = single_trial_correlation(np.asarray(t.rates_stimulus_only), t.responses)
                    full = single_trial_correlation(t.rates, t.responses)
                    row = {
                        "images": n_images,
                        "repeats": repeats,
                        "seed": seed,
                        "tier": tier,
                        "estimate": round(float(est.mean()), 4),
                        "bootstrap_sd": round(float(estimated_ceiling_sd(t) or 0.0), 4),
                        "true_images_only": round(float(np.nanmean(only)), 4),
                        "true_full": round(float(np.nanmean(full)), 4),
                    }
                    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
