"""Models that predict neural responses from stimuli and behaviour."""

from neurotwin.models.ridge import PixelRidge

__all__ = ["PixelRidge"]
