"""Denoising and compression of calcium-imaging movies by penalized matrix decomposition.

PMD (Buchanan et al. 2018, bioRxiv 334706) splits a movie, block by block, into a low-rank
signal and temporally uncorrelated noise with no hand-tuned parameter. This package reads
movies in pieces (:func:`open_movie`), estimates each pixel's noise (:func:`noise_sd`),
factorises overlapping blocks (:func:`denoise_movie`, modes ``pmd`` and ``svd``), stores
the result in an open folder format (:func:`save_compressed`, :func:`load_compressed`), and
simulates movies with known signal to measure all of it (:func:`simulate_movie`).
"""

from neurotwin.imaging.compressed import Compressed, load_compressed, save_compressed
from neurotwin.imaging.denoise import denoise_movie
from neurotwin.imaging.errors import CompressedError, MovieError
from neurotwin.imaging.factorize import FitSettings
from neurotwin.imaging.movie import Movie, open_movie, write_movie
from neurotwin.imaging.noise import noise_sd
from neurotwin.imaging.simulate import (
    MovieConfig,
    SimulatedMovie,
    simulate_movie,
    write_simulated_movie,
)

__all__ = [
    "Compressed",
    "CompressedError",
    "FitSettings",
    "Movie",
    "MovieConfig",
    "MovieError",
    "SimulatedMovie",
    "denoise_movie",
    "load_compressed",
    "noise_sd",
    "open_movie",
    "save_compressed",
    "simulate_movie",
    "write_movie",
    "write_simulated_movie",
]
