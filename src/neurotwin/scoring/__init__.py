"""Metrics, ceilings, submission files and tracks of the SENSORIUM benchmarks."""

from neurotwin.scoring.metrics import correlation

__all__ = ["correlation"]
