"""A checked 2023 submission, aligned on demand and scored trial by trial.

:func:`~neurotwin.scoring.scorer.check_submission` reads an uploaded parquet file once by
batches (:func:`~neurotwin.scoring.video_parquet.scan_video_parquet`) and keeps where each
mouse's trials and neurons are (:class:`~neurotwin.scoring.align.VideoPlan`). A file whose
predictions decode to at most :data:`KEEP_BYTES` also keeps its decoded rows from that
read, so that it is decoded once; a larger one keeps nothing else and is read again when
scored. :class:`StreamedVideoPhase` is the phase's ``{mouse: aligned predictions}`` mapping
of an :class:`~neurotwin.scoring.aligned.AlignedSubmission`: the scorer feeds its trials to
the metrics' accumulators one at a time (:meth:`StreamedVideoPhase.feed`), in the file's
row order either way, so that scoring holds the ground truth and a bounded working set
(plus the kept rows, at most :data:`KEEP_BYTES` per file), never more of the submission;
reading an item builds that mouse's aligned array like an in-memory submission has.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from neurotwin.scoring.align import VideoPlan
from neurotwin.scoring.upload import UploadFile
from neurotwin.scoring.video_parquet import VideoIndex, iter_video_rows

#: What :meth:`StreamedVideoPhase.feed` calls: ``sink(mouse, k, predictions)`` with trial
#: ``k`` of the truth's tier as ``(n_neurons, n_frames[k])`` in the truth's neuron order
#: (possibly a view of the decoded row: a sink that keeps it beyond the call copies it).
Sink = Callable[[str, int, np.ndarray], None]

#: A phase's file whose predictions decode to at most this many bytes (float32) keeps its
#: decoded rows from its check and is scored from them (decoded once); a larger file is
#: decoded again, batch by batch, when scored. Per file: a submission's two phases are read
#: side by side, so checking one holds at most twice this. 512 MiB holds a full-size 2023
#: phase (8,000 neurons x 60 trials x 250 frames: 458 MiB); 0 streams every file.
KEEP_BYTES = 512 << 20


@dataclass(frozen=True)
class ScannedVideo:
    """A 2023 file that was checked row by row: where it is, its rows' index, maybe its rows.

    Attributes
    ----------
    file
        The phase's file.
    index
        Its rows' mice, trial ids, frames and neuron ids.
    rows
        Each row's ``(n_neurons, T - 50)`` float32 predictions, in file order, when the
        file decodes to at most :data:`KEEP_BYTES`; None otherwise.
    """

    file: UploadFile
    index: VideoIndex
    rows: Sequence[np.ndarray] | None = None


class StreamedVideoPhase(Mapping[str, np.ndarray]):
    """One phase of a checked 2023 file, per mouse, from its kept rows or read from the file.

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
    rows
        The file's decoded rows, kept by its check (:attr:`ScannedVideo.rows`); None reads
        them from the file whenever they are needed.
    """

    def __init__(
        self,
        file: UploadFile,
        n_rows: int,
        plans: Mapping[str, VideoPlan],
        shapes: Mapping[str, tuple[int, ...]],
        rows: Sequence[np.ndarray] | None = None,
    ) -> None:
        self.file = file
        self.n_rows = n_rows
        self.plans = dict(plans)
        self.shapes = dict(shapes)
        if rows is not None and len(rows) != n_rows:
            raise ValueError(f"{len(rows)} kept rows for a file of {n_rows} rows")
        self.rows = rows

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
        """Call ``sink`` with every trial of every mouse (or ``only``), in file row order.

        Memory: the kept rows, or else one batch of rows read from the file
        (:data:`~neurotwin.scoring.video_parquet.BATCH_VALUES`).
        """
        names = [m for m in self.plans if only is None or m == only]
        owner = np.full(self.n_rows, -1, dtype=np.int64)
        trial = np.zeros(self.n_rows, dtype=np.int64)
        for i, mouse in enumerate(names):
            rows = self.plans[mouse].rows
            owner[rows] = i
            trial[rows] = np.arange(len(rows))
        if self.rows is not None:
            for r in np.flatnonzero(owner >= 0).tolist():
                mouse = names[owner[r]]
                k = int(trial[r])
                sink(mouse, k, self.plans[mouse].take(k, self.rows[r]))
            return
        with self.file.open() as handle:
            for r, row in iter_video_rows(handle, self.file.name, self.n_rows):
                if owner[r] >= 0:
                    mouse = names[owner[r]]
                    k = int(trial[r])
                    sink(mouse, k, self.plans[mouse].take(k, row))
