"""The two SENSORIUM on-disk layouts: which fields, tiers and per-trial shapes to expect."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["static", "video"]

#: Statistics every ``meta/statistics/{field}/all/`` folder holds.
STATISTIC_NAMES = ("mean", "std", "min", "max", "median")


@dataclass(frozen=True)
class Layout:
    """What one release's recordings hold.

    Attributes
    ----------
    kind
        ``"static"`` (SENSORIUM 2022, images) or ``"video"`` (SENSORIUM 2023).
    stimulus
        The data folder of the stimulus: ``"images"`` or ``"videos"``.
    fields
        Every per-trial data folder, stimulus first.
    tiers
        The tier names ``meta/trials/tiers.npy`` may hold.
    behavior_channels
        Length of a behaviour vector: 3 (pupil, its derivative, running) or 2 (pupil, running).
    folder_prefix
        How the recording's folder name begins (``static`` or ``dynamic``).
    stimulus_axes
        The axes of one trial's stimulus file: ``("1", "height", "width")`` for an image,
        ``("height", "width", "frames")`` for a video (frames last, as released).
    """

    kind: Kind
    stimulus: str
    fields: tuple[str, ...]
    tiers: tuple[str, ...]
    behavior_channels: int
    folder_prefix: str
    stimulus_axes: tuple[str, ...]

    @property
    def has_frames(self) -> bool:
        """Whether trials have a time axis (video): NaN-padded frames, per-frame statistics."""
        return "frames" in self.stimulus_axes

    def stimulus_shape_problem(self, shape: tuple[int, ...]) -> str | None:
        """Say what is wrong with the shape of a stimulus file, or None when it fits.

        Parameters
        ----------
        shape
            The shape of ``data/{stimulus}/{i}.npy``.

        Returns
        -------
        str or None
            E.g. ``"has shape (2, 36, 64), expected (1, height, width)"``.
        """
        fits = len(shape) == len(self.stimulus_axes) and all(
            not axis.isdigit() or size == int(axis)
            for size, axis in zip(shape, self.stimulus_axes, strict=True)
        )
        if not fits:
            return f"has shape {shape}, expected ({', '.join(self.stimulus_axes)})"
        if min(shape) < 1:
            return f"has shape {shape}"
        return None

    def stimulus_hw(self, shape: tuple[int, ...]) -> tuple[int, int]:
        """Return the height and width of a stimulus file of ``shape``."""
        axes = self.stimulus_axes
        return int(shape[axes.index("height")]), int(shape[axes.index("width")])

    def frames_of(self, shape: tuple[int, ...]) -> int:
        """Return the padded frames of a stimulus file of ``shape`` (1 without a time axis)."""
        return int(shape[self.stimulus_axes.index("frames")]) if self.has_frames else 1

    @property
    def required_fields(self) -> tuple[str, ...]:
        """Fields a recording cannot do without (behaviour and eye position are optional)."""
        return (self.stimulus, "responses")

    def trial_shape(
        self, field: str, n_neurons: int, stimulus_hw: tuple[int, int], n_frames: int
    ) -> tuple[int, ...]:
        """Return the shape every ``data/{field}/{i}.npy`` must have.

        Parameters
        ----------
        field
            A data folder name.
        n_neurons
            Number of neurons (length of ``unit_ids``).
        stimulus_hw
            Height and width of the stimulus.
        n_frames
            Padded number of frames (video only; ignored for static recordings).

        Returns
        -------
        tuple of int
            The expected shape.
        """
        h, w = stimulus_hw
        channels = {"behavior": self.behavior_channels, "pupil_center": 2}
        if not self.has_frames:
            shapes: dict[str, tuple[int, ...]] = {
                "images": (1, h, w),
                "responses": (n_neurons,),
            }
            shapes.update({k: (v,) for k, v in channels.items()})
        else:
            shapes = {"videos": (h, w, n_frames), "responses": (n_neurons, n_frames)}
            shapes.update({k: (v, n_frames) for k, v in channels.items()})
        return shapes[field]


#: The static (SENSORIUM 2022) layout: images, 3 behaviour channels, four tiers.
STATIC = Layout(
    kind="static",
    stimulus="images",
    fields=("images", "responses", "behavior", "pupil_center"),
    tiers=("train", "validation", "test", "final_test"),
    behavior_channels=3,
    folder_prefix="static",
    stimulus_axes=("1", "height", "width"),
)

#: The video (SENSORIUM 2023) layout: videos, 2 behaviour channels, the 2023 tiers.
VIDEO = Layout(
    kind="video",
    stimulus="videos",
    fields=("videos", "responses", "behavior", "pupil_center"),
    tiers=(
        "train",
        "oracle",
        "live_test_main",
        "live_test_bonus",
        "final_test_main",
        "final_test_bonus",
        "none",
    ),
    behavior_channels=2,
    folder_prefix="dynamic",
    stimulus_axes=("height", "width", "frames"),
)

#: Both layouts by kind (``"static"``, ``"video"``).
LAYOUTS: dict[str, Layout] = {"static": STATIC, "video": VIDEO}
