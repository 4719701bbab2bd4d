"""Sub-commands of calcium imaging: ``denoise`` (PMD) and the ``simulate movie`` kind.

The library is imported when a command runs, so building the parsers needs no torch or scipy.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from pathlib import Path
from typing import Any

from neurotwin.imaging.config import METHODS, SUFFIXES, FitSettings, MovieConfig
from neurotwin.imaging.errors import MovieError


def register(subparsers: Any) -> None:
    """Add ``denoise`` to the command line.

    Parameters
    ----------
    subparsers
        The top-level sub-parser collection.
    """
    p = subparsers.add_parser(
        "denoise",
        help="denoise and compress a calcium-imaging movie (PMD)",
        description="Split a movie (frames x height x width) into a low-rank signal and "
        "noise by penalized matrix decomposition over overlapping blocks, write the "
        "compressed result folder (format in docs/imaging.md, 'The compressed result') and an HTML "
        "report. A simulated movie's truth folder beside it (MOVIE.truth/) is found and used.",
    )
    p.add_argument("movie", help="movie file: .npy, .tif/.tiff, .h5/.hdf5, .bin, .zarr")
    p.add_argument("--out", required=True, help="result folder to write")
    p.add_argument("--method", choices=METHODS, default="pmd", help="pmd (default) or svd")
    p.add_argument("--block", type=int, nargs=2, default=(32, 32), metavar=("ROWS", "COLS"))
    p.add_argument("--max-components", type=int, default=20, help="most per block (20)")
    p.add_argument("--window", type=int, default=2000, help="frames fitted (2000)")
    p.add_argument("--workers", type=int, default=None, help="threads (default: cores)")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda")
    p.add_argument(
        "--scheduler", "--dask", dest="scheduler", default=None, metavar="ADDRESS",
        help="factorise the blocks as tasks on this dask.distributed scheduler "
        "(tcp://host:8786)",
    )  # fmt: skip
    p.add_argument("--dataset", default=None, help="HDF5 dataset / zarr array in a group")
    p.add_argument(
        "--frame-shape", type=int, nargs=2, default=None, metavar=("HEIGHT", "WIDTH"),
        help="frame shape of a raw .bin (suite2p data.bin, int16)",
    )  # fmt: skip
    p.add_argument("--truth", default=None, help="noiseless movie (.npy) for the report")
    p.add_argument("--no-report", action="store_true", help="skip the HTML report")
    p.add_argument("--overwrite", action="store_true", help="replace a different result")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=_denoise)


def add_movie_kind(kinds: Any) -> None:
    """Add ``simulate movie`` to the ``simulate`` sub-parsers.

    Parameters
    ----------
    kinds
        The ``simulate`` command's sub-parser collection.
    """
    p = kinds.add_parser(
        "movie",
        help="a two-photon calcium-imaging movie with its true signal",
        description="Simulate somata with calcium transients, neuropil, drift, Poisson shot "
        "noise and read noise at a stated SNR; writes OUT/movie.EXT and OUT/movie.truth/ "
        "(noiseless signal, footprints, calcium, spikes, simulation.json).",
    )
    p.add_argument("--out", required=True, help="folder to write into")
    p.add_argument(
        "--format", default="npy", choices=sorted({s[1:] for s in SUFFIXES} - {"tiff", "hdf5"})
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing movie")
    p.add_argument(
        "--rates-from", default=None, metavar="RECORDING",
        help="draw the spikes from a simulated mouse's true rates (a recording written by "
        "'neurotwin simulate static|video', or its .truth folder)",
    )  # fmt: skip
    defaults = MovieConfig()
    for f in fields(MovieConfig):
        value = getattr(defaults, f.name)
        p.add_argument(
            "--" + f.name.replace("_", "-"), type=type(value), default=value,
            help=f"(default {value})",
        )  # fmt: skip
    p.set_defaults(func=_simulate_movie)


def _simulate_movie(args: argparse.Namespace) -> int:
    from neurotwin.imaging.simulate import (
        rates_from_recording,
        simulate_movie,
        write_simulated_movie,
    )

    config = MovieConfig(**{f.name: getattr(args, f.name) for f in fields(MovieConfig)})
    rates = None
    if args.rates_from is not None:
        rates = rates_from_recording(
            args.rates_from, config.neurons, config.frames, config.fps, config.rate
        )
    sim = simulate_movie(config, rates=rates)
    sim.rates_from = args.rates_from
    try:
        movie, truth = write_simulated_movie(sim, args.out, args.format, args.overwrite)
    except FileExistsError as exc:
        raise MovieError(f"{exc.filename} exists; add --overwrite") from exc
    print(f"{movie}  ({' x '.join(map(str, sim.movie.shape))}, SNR {config.snr:g})")
    print(f"{truth}  (gain {sim.gain:.3g} photons per unit)")
    return 0


def _truth_for(args: argparse.Namespace, shape: tuple[int, ...]) -> Any:
    import numpy as np

    path = Path(args.truth) if args.truth else Path(args.movie).with_suffix(".truth")
    if path.is_dir():
        path = path / "signal.npy"
    if not path.is_file():
        if args.truth:
            raise MovieError(f"{path}: no such truth file")
        return None
    if path.suffix != ".npy":
        raise MovieError(f"{path}: the truth must be a .npy file (the noiseless movie)")
    try:
        truth = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # damaged header, pickled data
        raise MovieError(f"{path}: not a readable .npy array ({exc})") from exc
    if truth.shape != shape:
        raise MovieError(f"{path}: truth of shape {truth.shape}, movie {shape}")
    return truth


def _denoise(args: argparse.Namespace) -> int:
    from neurotwin.imaging.denoise import denoise_movie
    from neurotwin.imaging.movie import open_movie
    from neurotwin.imaging.report import write_denoise_report

    settings = FitSettings(method=args.method, max_components=args.max_components)
    movie = open_movie(
        args.movie, dataset=args.dataset,
        frame_shape=tuple(args.frame_shape) if args.frame_shape else None,
    )  # fmt: skip
    truth = _truth_for(args, movie.shape)
    result = denoise_movie(
        movie, args.out, block=tuple(args.block), settings=settings, window=args.window,
        workers=args.workers, client=args.scheduler, device=args.device,
        overwrite=args.overwrite, progress=not args.quiet,
    )  # fmt: skip
    out: dict[str, Any] = {"out": args.out, **result.summary(), "seconds": result.info["seconds"]}
    if not args.no_report:
        out["report"] = str(
            write_denoise_report(Path(args.out) / "report.html", movie, result, truth)
        )
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    for key, value in out.items():
        print(f"{key:<18} {value:.4g}" if isinstance(value, float) else f"{key:<18} {value}")
    return 0
