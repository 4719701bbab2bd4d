"""Write simulated recordings (and their ground truth) in the SENSORIUM layout.

:func:`simulate_static` and :func:`simulate_video` build one simulated mouse per ``mice``,
generate its trials chunk by chunk, write them through
:class:`neurotwin.data.RecordingWriter` and write the ground truth beside the recording
(see :mod:`neurotwin.simulate.truth`). Competition mode hashes the trial ids, zeroes the
held-out responses (and, for the stimulus-only track, the held-out behaviour and eye
position); the truth folder keeps everything for the scorer.
"""

from __future__ import annotations

from neurotwin.simulate.release import (
    CEILING_VALUES,
    HELD_OUT,
    SimulatedRecording,
    hashed_trial_ids,
    recording_name,
)
from neurotwin.simulate.static_release import simulate_static
from neurotwin.simulate.video_release import simulate_video

#: The simulation of each kind of release (``"static"``, ``"video"``).
SIMULATORS = {"static": simulate_static, "video": simulate_video}

__all__ = [
    "CEILING_VALUES",
    "HELD_OUT",
    "SIMULATORS",
    "SimulatedRecording",
    "hashed_trial_ids",
    "recording_name",
    "simulate_static",
    "simulate_video",
]
