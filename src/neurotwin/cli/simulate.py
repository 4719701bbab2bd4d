"""Sub-commands of the in-silico mouse: ``simulate static|video|movie`` and ``ceiling``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from neurotwin.cli.imaging import add_movie_kind
from neurotwin.config import add_config_flags, flag_overrides
from neurotwin.simulate.config import PRESETS, TRACKS, make_config, release_of


def _add_overrides(parser: argparse.ArgumentParser, kind: str) -> list[str]:
    """One flag per field of the release's config and of its population, help from their docs."""
    group = parser.add_argument_group("overrides (replace one value of the preset)")
    tiny = make_config(kind, "tiny")
    return add_config_flags(group, type(tiny), defaults=tiny, default_label="tiny preset")


def register(subparsers: Any) -> None:
    """Add ``simulate`` and ``ceiling`` to the command line.

    Parameters
    ----------
    subparsers
        The top-level sub-parser collection.
    """
    sim = subparsers.add_parser(
        "simulate",
        help="write simulated recordings (static or video) with their ground truth",
        description="Simulate mice in the exact SENSORIUM layout. Each recording gets a "
        "ground-truth folder beside it ({name}.truth/) with the noiseless rates, and the "
        "realism checks (ceilings, ridge, behaviour, retinotopy) are printed.",
    )
    kinds = sim.add_subparsers(dest="kind", metavar="KIND")
    kinds.required = True
    for kind in ("static", "video"):
        p = kinds.add_parser(kind, help=f"a {kind} release ({release_of(kind).year})")
        p.add_argument("--out", required=True, help="folder to write recordings into")
        p.add_argument("--preset", choices=PRESETS, default="tiny", help="size (default tiny)")
        p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        p.add_argument("--mice", type=int, default=1, help="number of mice (default 1)")
        p.add_argument(
            "--competition",
            action="store_true",
            help="public release: hashed trial ids, held-out responses zeroed",
        )
        p.add_argument("--track", choices=TRACKS, default="behavior", help="competition track")
        p.add_argument("--zip", action="store_true", help="write each recording as a zip")
        p.add_argument("--overwrite", action="store_true", help="replace existing recordings")
        p.add_argument(
            "--reuse",
            action="store_true",
            help="return a recording already in --out that was simulated with the same options "
            "instead of simulating it again (a different one is an error)",
        )
        p.add_argument("--no-checks", action="store_true", help="skip the realism checks")
        p.add_argument("--json", action="store_true", help="print JSON instead of text")
        p.set_defaults(func=_simulate, overrides=_add_overrides(p, kind))
    add_movie_kind(kinds)
    c = subparsers.add_parser(
        "ceiling",
        help="exact single-trial ceiling of a tier of a simulated recording",
        description="Print the correlation between true rates and noisy responses of one "
        "tier, per neuron summary and mean, from a {name}.truth folder.",
    )
    c.add_argument("truth", help="the recording's .truth folder")
    c.add_argument("--tier", default="test", help="tier (default test)")
    c.add_argument("--json", action="store_true", help="print JSON, with per-neuron values")
    c.set_defaults(func=_ceiling)


def _simulate(args: argparse.Namespace) -> int:
    overrides = flag_overrides(args, args.overrides)
    from neurotwin.simulate.checks import realism_report
    from neurotwin.simulate.recording import SIMULATORS

    simulate = SIMULATORS[args.kind]
    recordings = simulate(
        args.out, preset=args.preset, seed=args.seed, mice=args.mice,
        competition=args.competition, as_zip=args.zip, track=args.track,
        overwrite=args.overwrite, reuse=args.reuse, **overrides,
    )  # fmt: skip
    results = []
    for rec in recordings:
        entry: dict[str, Any] = {"recording": str(rec.path), "truth": str(rec.truth)}
        entry.update(
            realism_report(rec.path, rec.truth) if not args.no_checks else {"ceiling": rec.ceilings}
        )
        results.append(entry)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for entry in results:
        print(entry["recording"])
        print(f"  truth          {entry['truth']}")
        for tier, value in entry["ceiling"].items():
            print(f"  ceiling        {tier:<18} {value:.3f}")
        if "retinotopy_r2" in entry:
            print(f"  noise level    {entry['noise_level']:g}")
            print(f"  retinotopy R2  {entry['retinotopy_r2']:.3f}")
            b = entry["behavior"]
            print(
                f"  behaviour      oracle without behaviour gain reaches "
                f"{b['fraction_without']:.1%} of the ceiling ({b['without_behavior']:.3f})"
            )
        if "ridge" in entry:
            r = entry["ridge"]
            print(f"  ridge (pixels) {r['correlation']:.3f} = {r['fraction']:.1%} of the ceiling")
    return 0


def _ceiling(args: argparse.Namespace) -> int:
    import numpy as np

    from neurotwin.simulate import exact_ceiling

    per_neuron, mean = exact_ceiling(args.truth, args.tier)
    if args.json:
        print(json.dumps({"tier": args.tier, "mean": mean, "per_neuron": per_neuron.tolist()}))
        return 0
    low, mid, high = np.percentile(per_neuron, [0, 50, 100])
    print(f"tier {args.tier}: mean ceiling {mean:.4f} over {len(per_neuron)} neurons")
    print(f"  min {low:.3f}  median {mid:.3f}  max {high:.3f}")
    return 0
