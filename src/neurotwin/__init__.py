"""neurotwin: digital twins of mouse primary visual cortex.

Read the SENSORIUM recordings as released, simulate new ones, train baseline models,
and score them exactly as the competitions did.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("neurotwin")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
