"""Read, write, validate, cache and load SENSORIUM recordings (static 2022 and video 2023)."""

from neurotwin.data.cache import RecordingCache, cache_for, default_cache_dir
from neurotwin.data.datasets import StaticTrials, VideoClips
from neurotwin.data.layout import LAYOUTS, STATIC, VIDEO, Layout
from neurotwin.data.loaders import Interleaved, static_loaders, video_loaders
from neurotwin.data.normalize import Normalizer, response_scale
from neurotwin.data.problems import Problem, RecordingError
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

__all__ = [
    "LAYOUTS",
    "Interleaved",
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
