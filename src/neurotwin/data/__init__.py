"""Read, write, validate, cache and load SENSORIUM recordings (static 2022 and video 2023)."""

from neurotwin.data.layout import LAYOUTS, STATIC, VIDEO, Layout
from neurotwin.data.problems import Problem, RecordingError
from neurotwin.data.recording import (
    Recording,
    StaticRecording,
    VideoRecording,
    open_recording,
    recording_key,
)
from neurotwin.data.statistics import compute_statistics
from neurotwin.data.writer import RecordingWriter

__all__ = [
    "LAYOUTS",
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
