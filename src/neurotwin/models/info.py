"""What a model needs to know about each recording, without reading its trials."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from neurotwin.data.cache_folder import PREPROCESSINGS
from neurotwin.data.loaders import DEFAULT_SCALE, scaled_hw
from neurotwin.data.normalize import collapse_statistics, response_scale
from neurotwin.data.recording import Recording, open_recording
from neurotwin.errors import NeurotwinError
from neurotwin.models.normalization import InputNormalization

PathLike = str | os.PathLike[str]


def _array(value: Any, dtype: type) -> np.ndarray:
    out: np.ndarray = np.array(value, dtype=dtype)  # a private copy
    return out


@dataclass(frozen=True, eq=False)
class RecordingInfo:
    """The shape of one recording as a model sees it.

    Attributes
    ----------
    key
        The recording key (``{animal}-{session}-{scan}``) naming its readout.
    n_neurons
        Number of neurons.
    unit_ids
        ``(n_neurons,)`` int64 unit ids, in response-column order.
    coordinates
        ``(n_neurons, 3)`` cortical coordinates (``cell_motor_coordinates``), or None.
    mean_response
        ``(n_neurons,)`` mean response in the loaders' normalised unit (initialises the
        readout bias).
    image_hw
        Height and width of the images the model receives (after the loaders' resize).
    behavior_dim
        Behaviour channels of a batch (3 for the 2022 release).
    eye_dim
        Eye-position channels of a batch (2: pupil centre x, y).
    preprocessing
        How the loaders resize the images for this model: ``"neurotwin"`` (once,
        anti-aliased; neurotwin's own models) or ``"kit"`` (the 2022 kit's rescale without
        anti-aliasing; models converted from kit weights). See :mod:`neurotwin.data.cache`.
    normalization
        The loaders' normalisation of the recording's raw stimuli, behaviour, pupil centre
        and responses (:class:`~neurotwin.models.normalization.InputNormalization`), which
        :meth:`~neurotwin.models.base.TwinModule.predict_responses` applies. None in model
        files written before neurotwin saved it (see
        :func:`~neurotwin.models.attach_normalization`).
    """

    key: str
    n_neurons: int
    unit_ids: np.ndarray
    coordinates: np.ndarray | None
    mean_response: np.ndarray
    image_hw: tuple[int, int]
    behavior_dim: int = 3
    eye_dim: int = 2
    preprocessing: str = "neurotwin"
    normalization: InputNormalization | None = None

    def __post_init__(self) -> None:
        if isinstance(self.normalization, Mapping):  # as to_dict wrote it
            object.__setattr__(
                self, "normalization", InputNormalization.from_dict(self.normalization)
            )
        if self.normalization is not None and not isinstance(
            self.normalization, InputNormalization
        ):
            raise NeurotwinError(
                f"recording info {self.key!r}: normalization is a "
                f"{type(self.normalization).__name__}, expected an InputNormalization"
            )
        object.__setattr__(self, "unit_ids", _array(self.unit_ids, np.int64).reshape(-1))
        object.__setattr__(self, "mean_response", _array(self.mean_response, np.float64))
        if self.coordinates is not None:
            object.__setattr__(self, "coordinates", _array(self.coordinates, np.float64))
        object.__setattr__(self, "image_hw", tuple(int(v) for v in self.image_hw))
        n = self.n_neurons
        where = f"recording info {self.key!r}"
        if n < 1:
            raise NeurotwinError(f"{where}: n_neurons must be positive, got {n}")
        if self.unit_ids.shape != (n,):
            raise NeurotwinError(
                f"{where}: unit_ids has {self.unit_ids.size} entries, expected {n} (n_neurons)"
            )
        if self.mean_response.shape != (n,):
            raise NeurotwinError(
                f"{where}: mean_response has shape {self.mean_response.shape}, expected ({n},)"
            )
        coords = self.coordinates
        if coords is not None and (coords.ndim != 2 or coords.shape[0] != n):
            raise NeurotwinError(
                f"{where}: coordinates has shape {coords.shape}, expected ({n}, 3)"
            )
        if len(self.image_hw) != 2 or min(self.image_hw) < 1:
            raise NeurotwinError(
                f"{where}: image_hw must be two positive sizes, got {self.image_hw}"
            )
        scale = None if self.normalization is None else self.normalization.transforms["responses"]
        if scale is not None and scale.scale.shape != (n,):
            raise NeurotwinError(
                f"{where}: the response scale has shape {scale.scale.shape}, expected ({n},)"
            )
        if self.preprocessing not in PREPROCESSINGS:
            raise NeurotwinError(
                f"{where}: unknown preprocessing {self.preprocessing!r}; "
                f"known: {', '.join(PREPROCESSINGS)}"
            )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RecordingInfo):
            return NotImplemented
        same_coords = (self.coordinates is None) == (other.coordinates is None) and (
            self.coordinates is None or np.array_equal(self.coordinates, other.coordinates)  # type: ignore[arg-type]
        )
        return (
            self.key == other.key
            and self.n_neurons == other.n_neurons
            and np.array_equal(self.unit_ids, other.unit_ids)
            and same_coords
            and np.allclose(self.mean_response, other.mean_response)
            and self.image_hw == other.image_hw
            and self.behavior_dim == other.behavior_dim
            and self.eye_dim == other.eye_dim
            and self.preprocessing == other.preprocessing
            and self.normalization == other.normalization
        )

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def from_recording(
        cls,
        recording: Recording,
        image_hw: tuple[int, int] | None = None,
        *,
        scale: float | None = None,
    ) -> RecordingInfo:
        """Describe a recording from its metadata and statistics (no pass over the data).

        Parameters
        ----------
        recording
            An open recording.
        image_hw
            Size of the images the loaders hand the model; None computes it from ``scale``
            exactly as :func:`neurotwin.data.make_loaders` does.
        scale
            Resize factor used when ``image_hw`` is None; None: the loaders' default of the
            recording's kind (0.25 for static images, 1 for video frames).

        Returns
        -------
        RecordingInfo
            ``mean_response`` is the mean of the ``all`` response statistics divided by
            the loaders' response scale (:func:`neurotwin.data.response_scale`);
            ``normalization`` is the loaders' normalisation of the recording.
        """
        stats = recording.statistics("responses")
        mean = np.asarray(stats["mean"], dtype=np.float64)
        if mean.ndim > 1:  # a time axis (2023 release): one mean per neuron
            mean = collapse_statistics(mean, stats["std"], recording.n_neurons)[0]
        scale_by = response_scale(stats)
        if image_hw is None:
            factor = DEFAULT_SCALE[recording.kind] if scale is None else scale
            image_hw = scaled_hw(recording.stimulus_hw, factor)
        return cls(
            key=recording.key,
            n_neurons=recording.n_neurons,
            unit_ids=np.asarray(recording.unit_ids),
            coordinates=recording.cell_motor_coordinates,
            mean_response=mean / scale_by,
            image_hw=(int(image_hw[0]), int(image_hw[1])),
            behavior_dim=recording.layout.behavior_channels,
            eye_dim=2,
            normalization=InputNormalization.from_recording(recording),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict (arrays as lists)."""
        return {
            "key": self.key,
            "n_neurons": self.n_neurons,
            "unit_ids": self.unit_ids.tolist(),
            "coordinates": None if self.coordinates is None else self.coordinates.tolist(),
            "mean_response": self.mean_response.tolist(),
            "image_hw": list(self.image_hw),
            "behavior_dim": self.behavior_dim,
            "eye_dim": self.eye_dim,
            "preprocessing": self.preprocessing,
            "normalization": None if self.normalization is None else self.normalization.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RecordingInfo:
        """Rebuild from :meth:`to_dict` output."""
        required = ("key", "n_neurons", "unit_ids", "coordinates", "mean_response", "image_hw")
        missing = [n for n in required if n not in data]
        if missing:
            raise NeurotwinError(f"recording info lacks {', '.join(missing)}")
        # absent from older checkpoints
        names = ("behavior_dim", "eye_dim", "preprocessing", "normalization")
        optional = {n: data[n] for n in names if n in data}
        return cls(**{n: data[n] for n in required}, **optional)


def recording_infos(
    paths: PathLike | Sequence[PathLike],
    image_hw: tuple[int, int] | None = None,
    *,
    scale: float | None = None,
) -> dict[str, RecordingInfo]:
    """Describe several recordings, keyed by recording key.

    Parameters
    ----------
    paths
        Recording folders or zips.
    image_hw
        Size of the images the model receives; None uses ``scale`` like the loaders.
    scale
        Resize factor used when ``image_hw`` is None; None: the loaders' default of each
        recording's kind (0.25 for static images, 1 for video frames).

    Returns
    -------
    dict
        ``{recording_key: RecordingInfo}`` in the order of ``paths``.
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    out: dict[str, RecordingInfo] = {}
    for path in paths:
        info = RecordingInfo.from_recording(open_recording(path), image_hw, scale=scale)
        if info.key in out:
            raise NeurotwinError(f"several recordings share the key {info.key!r}; pass each once")
        out[info.key] = info
    return out
