"""Settings of the imaging package, importable without torch or scipy (for the CLI parsers)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: File name endings and the format each means.
SUFFIXES = {
    ".npy": "npy",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".h5": "hdf5",
    ".hdf5": "hdf5",
    ".bin": "bin",
    ".zarr": "zarr",
}

#: The two factorisation modes.
METHODS = ("pmd", "svd")

#: Percentile of the null test of each mode when :attr:`FitSettings.percentile` is None.
#: Measured on 400 blocks of 16 x 16 x 200 frames of white noise: at the 5th percentile
#: ``pmd`` kept a component on 0 blocks and ``svd`` on 4 (1 %); at the 1st, ``svd`` on 0.
DEFAULT_PERCENTILE = {"pmd": 5.0, "svd": 1.0}


@dataclass(frozen=True)
class FitSettings:
    """Settings of the per-block factorisation (defaults of trefide's and localmd's demos).

    Attributes
    ----------
    method
        ``pmd`` (penalised rank-1 components) or ``svd`` (truncated SVD, the fast mode).
    max_components
        Most components kept per block.
    failures
        Rejections in a row that end a block.
    iterations
        Alternating steps per rank-1 component (pmd).
    init_iterations
        Power iterations on the decimated block (pmd).
    tolerance
        Convergence tolerance on the change of the unit-norm temporal factor (pmd).
    percentile
        Percentile of the roughness of components fitted to noise used as thresholds;
        None for the mode's default (:data:`DEFAULT_PERCENTILE`: 5 for ``pmd`` as in the
        method's codes, 1 for ``svd``, whose components of noise pass the 5th-percentile
        test on about 1 % of blocks of pure noise while ``pmd``'s never did).
    null_blocks
        Blocks of simulated noise fitted per block shape to find the thresholds.
    seed
        Seed of the random numbers (initialisations, sketches, simulated noise).
    """

    method: str = "pmd"
    max_components: int = 20
    failures: int = 3
    iterations: int = 10
    init_iterations: int = 20
    tolerance: float = 5e-3
    percentile: float | None = None
    null_blocks: int = 16
    seed: int = 0

    @property
    def threshold_percentile(self) -> float:
        """The percentile of the null test: :attr:`percentile`, or the mode's default."""
        if self.percentile is not None:
            return float(self.percentile)
        return DEFAULT_PERCENTILE.get(self.method, 5.0)

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as a JSON-friendly dict."""
        return asdict(self)


@dataclass(frozen=True)
class MovieConfig:
    """Size and physics of a simulated movie.

    Attributes
    ----------
    frames, height, width
        Movie size.
    neurons
        Number of somata.
    snr
        Median over soma pixels of the signal's temporal SD over the noise SD.
    fps
        Frame rate (Hz).
    rate
        Mean firing rate (spikes/s).
    spike_dff
        Mean dF/F of one spike.
    radius
        Mean soma radius (pixels).
    read_noise
        SD of the read noise, in photons.
    drift
        Amplitude of the slow baseline drift (fraction of the signal).
    seed
        Random seed.
    """

    frames: int = 1000
    height: int = 64
    width: int = 64
    neurons: int = 30
    snr: float = 1.0
    fps: float = 30.0
    rate: float = 1.0
    spike_dff: float = 0.6
    radius: float = 4.0
    read_noise: float = 2.0
    drift: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        from neurotwin.imaging.errors import MovieError

        at_least_one = ("frames", "height", "width", "neurons")
        positive = ("snr", "fps", "radius")
        not_negative = ("rate", "spike_dff", "read_noise", "drift")
        bad = [f"{name}={getattr(self, name)} (at least 1)" for name in at_least_one
               if getattr(self, name) < 1]  # fmt: skip
        bad += [f"{name}={getattr(self, name)} (above 0)" for name in positive
                if not getattr(self, name) > 0]  # fmt: skip
        bad += [f"{name}={getattr(self, name)} (0 or more)" for name in not_negative
                if not getattr(self, name) >= 0]  # fmt: skip
        if bad:
            raise MovieError(f"simulated movie: {'; '.join(bad)}")
