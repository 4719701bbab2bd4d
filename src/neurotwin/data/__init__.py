"""Read, write, validate, cache and load SENSORIUM recordings (static 2022 and video 2023)."""

from typing import TYPE_CHECKING

from neurotwin._lazy import lazy_exports

if TYPE_CHECKING:
    from neurotwin.data.cache import cache_for
    from neurotwin.data.cache_folder import RecordingCache, default_cache_dir
    from neurotwin.data.datasets import StaticTrials, VideoClips
    from neurotwin.data.layout import LAYOUTS, STATIC, VIDEO, Layout
    from neurotwin.data.loaders import (
        Interleaved,
        LoaderConfig,
        make_loaders,
        static_loaders,
        video_loaders,
    )
    from neurotwin.data.normalize import Normalizer, response_scale
    from neurotwin.data.problems import RecordingError
    from neurotwin.data.recording import (
        Recording,
        StaticRecording,
        VideoRecording,
        open_recording,
        recording_key,
    )
    from neurotwin.data.statistics import compute_statistics
    from neurotwin.data.validate import validate_recording
    from neurotwin.data.writer import RecordingWriter
    from neurotwin.problems import Problem

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "RecordingCache": "neurotwin.data.cache_folder",
        "cache_for": "neurotwin.data.cache",
        "default_cache_dir": "neurotwin.data.cache_folder",
        "StaticTrials": "neurotwin.data.datasets",
        "VideoClips": "neurotwin.data.datasets",
        "LAYOUTS": "neurotwin.data.layout",
        "STATIC": "neurotwin.data.layout",
        "VIDEO": "neurotwin.data.layout",
        "Layout": "neurotwin.data.layout",
        "Interleaved": "neurotwin.data.loaders",
        "static_loaders": "neurotwin.data.loaders",
        "LoaderConfig": "neurotwin.data.loaders",
        "make_loaders": "neurotwin.data.loaders",
        "video_loaders": "neurotwin.data.loaders",
        "Normalizer": "neurotwin.data.normalize",
        "response_scale": "neurotwin.data.normalize",
        "Problem": "neurotwin.problems",
        "RecordingError": "neurotwin.data.problems",
        "Recording": "neurotwin.data.recording",
        "StaticRecording": "neurotwin.data.recording",
        "VideoRecording": "neurotwin.data.recording",
        "open_recording": "neurotwin.data.recording",
        "recording_key": "neurotwin.data.recording",
        "compute_statistics": "neurotwin.data.statistics",
        "validate_recording": "neurotwin.data.validate",
        "RecordingWriter": "neurotwin.data.writer",
    },
)

__all__ = [
    "LAYOUTS",
    "Interleaved",
    "LoaderConfig",
    "make_loaders",
    "Normalizer",
    "RecordingCache",
    "StaticTrials",
    "VideoClips",
    "cache_for",
    "default_cache_dir",
    "response_scale",
    "static_loaders",
    "validate_recording",
    "video_loaders",
    "STATIC",
    "VIDEO",
    "Layout",
    "Problem",
    "Recording",
    "RecordingError",
    "RecordingWriter",
    "StaticRecording",
    "VideoRecording",
    "compute_statistics",
    "open_recording",
    "recording_key",
]
