"""Submission files of both releases: the writer of a track's files, and the readers' face.

2022: two CSV files per track (:mod:`neurotwin.scoring.static_csv`); 2023: one parquet file
per phase in one zip (:mod:`neurotwin.scoring.video_parquet`). Uploads are opened safely by
:mod:`neurotwin.scoring.upload` and aligned to the ground truth by
:mod:`neurotwin.scoring.align`; :mod:`neurotwin.scoring.formats` ties them together per kind.
This module re-exports their public names for existing imports.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from neurotwin.scoring.align import align_static, align_video
from neurotwin.scoring.errors import ProblemList, SubmissionError
from neurotwin.scoring.predictions import StaticPredictions, VideoPredictions
from neurotwin.scoring.static_csv import read_static_csv, static_csv_bytes, write_static_csv
from neurotwin.scoring.tracks import PHASES, Track, get_track
from neurotwin.scoring.upload import check_zip, max_upload_bytes, open_upload
from neurotwin.scoring.video_parquet import ReadLimits, read_video_parquet, video_parquet_bytes

__all__ = [
    "ReadLimits",
    "StaticPredictions",
    "VideoPredictions",
    "align_static",
    "align_video",
    "check_zip",
    "max_upload_bytes",
    "open_upload",
    "read_static_csv",
    "read_video_parquet",
    "static_csv_bytes",
    "video_parquet_bytes",
    "write_static_csv",
    "write_submission",
]


def write_submission(
    track: str | Track,
    dest: str | os.PathLike[str],
    predictions: Mapping[str, StaticPredictions | VideoPredictions],
) -> Path:
    """Write a track's submission in the competition's layout.

    Parameters
    ----------
    track
        The track.
    dest
        Static tracks: a folder that receives the two CSV files. Video tracks: the zip to
        write, holding the two parquet files at its root.
    predictions
        Per phase (``"live"``, ``"final"``), the predictions.

    Returns
    -------
    pathlib.Path
        The folder or zip written.
    """
    track = get_track(track)
    dest = Path(dest)
    missing = [p for p in PHASES if p not in predictions]
    if missing:
        raise SubmissionError(
            ProblemList.single(str(dest), f"predictions for phase(s) {missing} are missing")
        )
    return track.format.write(track, dest, predictions)
