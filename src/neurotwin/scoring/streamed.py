"""A checked 2023 submission that stays in its file: aligned on demand, scored as it streams.

:func:`~neurotwin.scoring.scorer.check_submission` reads an uploaded parquet file once by
batches (:func:`~neurotwin.scoring.video_parquet.scan_video_parquet`) and keeps only where
each mouse's trials and neurons are (:class:`~neurotwin.scoring.align.VideoPlan`).
:class:`StreamedVideoPhase` is the phase's ``{mouse: aligned predictions}`` mapping of an
:class:`~neurotwin.scoring.aligned.AlignedSubmission`: the scorer feeds its trials from the
file to the metrics' accumulators one at a time (:meth:`StreamedVideoPhase.feed`), so that
scoring holds the ground truth and a fixed working set, never the whole submission; reading
an item builds that mouse's aligned array like an in-memory submission has.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from neurotwin.scoring.align import VideoPlan
from neurotwin.scoring.upload import UploadFile
from neurotwin.scoring.video_parquet import VideoIndex, iter_video_rows

#: What :meth:`StreamedVideoPhase.feed` calls: ``sink(mouse, k, predictions)`` with trial
#: ``k`` of the truth's tier as ``(n_neurons, n_frames[k])`` in the truth's neuron order.
Sink = Callable[[str, int, np.ndarray], None]


@dataclass(frozen=True)
class ScannedVideo:
    """A 2023 file that was checked row by row: where it is, and its rows' index."""

    file: UploadFile
    index: VideoIndex


class StreamedVideoPhase(Mapping[str, np.ndarray]):
    """One phase of a checked 2023 file, per mouse, read from the file when needed.

    Parameters
    ----------
    file
        The phase's file.
    n_rows
        Its rows (to notice a file changed since its check).
    plans
        Per mouse, where its aligned predictions are.
    shapes
        Per mouse, the shape of the truth's responses of the tier ``(n_trials, n_neurons, F)``.
    """

    def __init__(
        self,
        file: UploadFile,
        n_rows: int,
        plans: Mapping[str, VideoPlan],
        shapes: Mapping[str, tuple[int, ...]],
    ) -> None:
        self.file = file
        self.n_rows = n_rows
        self.plans = dict(plans)
        self.shapes = dict(shapes)

    def __iter__(self) -> Iterator[str]:
        return iter(self.plans)

    def __len__(self) -> int:
        return len(self.plans)

    def __getitem__(self, mouse: str) -> np.ndarray:
        """Return ``(n_trials, n_neurons, F)`` float32 aligned predictions, NaN-padded."""
        aligned = np.full(self.shapes[mouse], np.nan, dtype=np.float32)

        def put(name: str, k: int, values: np.ndarray) -> None:
            aligned[k, :, : values.shape[1]] = values

        self.feed(put, only=mouse)
        return aligned

    def feed(self, sink: Sink, only: str | None = None) -> None:
        """Read the file once, calling ``sink`` with every trial of every mouse (or ``only``).

        Memory: one batch of rows (:data:`~neurotwin.scoring.video_parquet.BATCH_VALUES`).
        """
        names = [m for m in self.plans if only is None or m == only]
        owner = np.full(self.n_rows, -1, dtype=np.int64)
        trial = np.zeros(self.n_rows, dtype=np.int64)
        for i, mouse in enumerate(names):
            rows = self.plans[mouse].rows
            owner[rows] = i
            trial[rows] = np.arange(len(rows))
        with self.file.open() as handle:
            for r, row in iter_video_rows(handle, self.file.name, self.n_rows):
                if owner[r] >= 0:
                    mouse = names[owner[r]]
                    k = int(trial[r])
                    sink(mouse, k, self.plans[mouse].take(k, row))
