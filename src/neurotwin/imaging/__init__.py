"""Denoising and compression of calcium-imaging movies by penalized matrix decomposition.

PMD (Buchanan et al. 2018, bioRxiv 334706) splits a movie, block by block, into a low-rank
signal and temporally uncorrelated noise with no hand-tuned parameter. This package reads
movies in pieces (:func:`open_movie`), estimates each pixel's noise (:func:`noise_sd`),
factorises overlapping blocks (:func:`denoise_movie`, modes ``pmd`` and ``svd``), stores
the result in an open folder format (:func:`save_compressed`, :func:`load_compressed`), and
simulates movies with known signal to measure all of it (:func:`simulate_movie`).
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from neurotwin.imaging.compressed import Compressed, load_compressed, save_compressed
    from neurotwin.imaging.config import FitSettings, MovieConfig
    from neurotwin.imaging.denoise import denoise_movie
    from neurotwin.imaging.errors import CompressedError, MovieError
    from neurotwin.imaging.movie import Movie, open_movie, write_movie
    from neurotwin.imaging.noise import noise_sd
    from neurotwin.imaging.simulate import (
        SimulatedMovie,
        StreamedMovie,
        rates_from_recording,
        simulate_movie,
        write_simulated_movie,
        write_streamed_movie,
    )

# Names are imported on first use, so that the command line's parsers (which need only
# neurotwin.imaging.config) do not import torch or scipy.
_EXPORTS = {
    "Compressed": "neurotwin.imaging.compressed",
    "load_compressed": "neurotwin.imaging.compressed",
    "save_compressed": "neurotwin.imaging.compressed",
    "FitSettings": "neurotwin.imaging.config",
    "MovieConfig": "neurotwin.imaging.config",
    "denoise_movie": "neurotwin.imaging.denoise",
    "CompressedError": "neurotwin.imaging.errors",
    "MovieError": "neurotwin.imaging.errors",
    "Movie": "neurotwin.imaging.movie",
    "open_movie": "neurotwin.imaging.movie",
    "write_movie": "neurotwin.imaging.movie",
    "noise_sd": "neurotwin.imaging.noise",
    "SimulatedMovie": "neurotwin.imaging.simulate",
    "StreamedMovie": "neurotwin.imaging.simulate",
    "rates_from_recording": "neurotwin.imaging.simulate",
    "write_streamed_movie": "neurotwin.imaging.simulate",
    "simulate_movie": "neurotwin.imaging.simulate",
    "write_simulated_movie": "neurotwin.imaging.simulate",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "Compressed",
    "CompressedError",
    "FitSettings",
    "Movie",
    "MovieConfig",
    "MovieError",
    "SimulatedMovie",
    "StreamedMovie",
    "denoise_movie",
    "load_compressed",
    "noise_sd",
    "open_movie",
    "rates_from_recording",
    "save_compressed",
    "simulate_movie",
    "write_movie",
    "write_simulated_movie",
    "write_streamed_movie",
]
