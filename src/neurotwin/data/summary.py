"""A summary of a recording: what ``neurotwin info`` prints."""

from __future__ import annotations

from typing import Any

import numpy as np

from neurotwin.data.recording import Recording, StaticRecording, VideoRecording


def summarize(recording: Recording, *, lengths: bool = False) -> dict[str, Any]:
    """Describe a recording without reading its per-trial arrays (except trial 0).

    Parameters
    ----------
    recording
        An open recording.
    lengths
        Video only: also scan every trial for its true length (reads one pixel per frame).

    Returns
    -------
    dict
        JSON-ready facts: name, key, kind, neurons, trials per tier, repeats per stimulus in
        the tiers that repeat them, stimulus size, fields and statistics present.
    """
    info: dict[str, Any] = {
        "name": recording.name,
        "key": recording.key,
        "kind": recording.kind,
        "location": recording.location,
        "neurons": recording.n_neurons,
        "trials": recording.n_trials,
        "tiers": recording.tier_counts,
        "stimulus_size": list(recording.stimulus_hw),
        "fields": list(recording.fields),
        "statistics": list(recording.statistics_fields),
        "trial_info": sorted(recording.trial_info),
        "neuron_info": sorted(recording.neurons),
    }
    if isinstance(recording, StaticRecording) and "frame_image_id" in recording.trial_info:
        repeats = {}
        for tier in recording.tier_counts:
            ids = recording.image_ids[recording.tier_indices(tier)]
            _, counts = np.unique(ids, return_counts=True)
            if counts.max(initial=0) > 1:
                repeats[tier] = {
                    "stimuli": len(counts),
                    "min": int(counts.min()),
                    "median": float(np.median(counts)),
                    "max": int(counts.max()),
                }
        info["repeats"] = repeats
    if isinstance(recording, VideoRecording):
        info["padded_frames"] = recording.n_frames
        if lengths:
            lens = recording.lengths
            info["frames"] = {
                "min": int(lens.min()),
                "median": float(np.median(lens)),
                "max": int(lens.max()),
            }
    return info
