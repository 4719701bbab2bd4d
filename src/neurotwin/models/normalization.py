"""The loaders' input normalisation, saved with each model so that it predicts from raw arrays.

:class:`InputNormalization` holds what :mod:`neurotwin.data.normalize` derives from a
recording's ``meta/statistics`` (the stimulus mean and std, the behaviour scale, the pupil
centre's mean and std, each neuron's response scale) plus the stimulus size on disk.
:func:`prepare_inputs` applies it, and the loaders' resize
(:mod:`neurotwin.data.cache`), to raw arrays exactly as a loader does to a cached trial,
so :meth:`~neurotwin.models.base.TwinModule.predict_responses` needs the model file only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from neurotwin.data.images import kit_rescale, resize_images
from neurotwin.data.normalize import Affine, Normalizer
from neurotwin.data.problems import RecordingError
from neurotwin.data.recording import Recording
from neurotwin.errors import NeurotwinError

#: Fields whose normalisation a model file keeps (besides the stimulus field).
NORMALIZED_FIELDS = ("responses", "behavior", "pupil_center")


@dataclass(frozen=True, eq=False)
class InputNormalization:
    """What the loaders do to one recording's raw arrays.

    Attributes
    ----------
    stimulus_hw
        ``(height, width)`` of the stimulus on disk; raw stimuli must have this size.
    transforms
        Per field (``"images"`` or ``"videos"``, ``"responses"``, ``"behavior"``,
        ``"pupil_center"``), the :class:`~neurotwin.data.normalize.Affine` ``(x - offset)
        / scale`` the loaders apply (float32, as the loaders hold them). Responses have
        offset 0 and scale the per-neuron response scale
        (:func:`~neurotwin.data.normalize.response_scale`).
    """

    stimulus_hw: tuple[int, int]
    transforms: Mapping[str, Affine]

    def __post_init__(self) -> None:
        object.__setattr__(self, "stimulus_hw", tuple(int(v) for v in self.stimulus_hw))
        object.__setattr__(self, "transforms", dict(self.transforms))
        if len(self.stimulus_hw) != 2 or min(self.stimulus_hw) < 1:
            raise NeurotwinError(f"stimulus_hw must be two positive sizes, got {self.stimulus_hw}")
        if "responses" not in self.transforms:
            raise NeurotwinError("an input normalisation needs the response scale")

    @classmethod
    def from_recording(cls, recording: Recording) -> InputNormalization:
        """Read the loaders' normalisation of every field present in ``recording``.

        Parameters
        ----------
        recording
            An open recording with ``meta/statistics`` (what the loaders normalise with).

        Returns
        -------
        InputNormalization
            Built by :meth:`neurotwin.data.normalize.Normalizer.from_recording`, so the
            numbers are the loaders' own. A field whose statistics are missing or unusable
            is left out (the loaders cannot deliver it either), except the responses.
        """
        wanted = (recording.layout.stimulus, *NORMALIZED_FIELDS)
        transforms = {}
        for field in (f for f in wanted if f in recording.fields):
            try:
                transforms.update(Normalizer.from_recording(recording, (field,)).transforms)
            except RecordingError:
                if field == "responses":
                    raise
                # statistics the loaders could not use either: predict_responses then
                # names the missing field instead of this model never being made
        return cls(recording.stimulus_hw, transforms)

    def transform(self, field: str) -> Affine:
        """Return the transform of ``field`` (error when the recording lacked it)."""
        found = self.transforms.get(field)
        if found is None:
            raise NeurotwinError(
                f"the saved input normalisation has no {field!r} (the recording the model was "
                f"made from has only {', '.join(self.transforms)})"
            )
        return found

    @property
    def response_scale(self) -> np.ndarray:
        """``(n_neurons,)`` float32 that the loaders divide responses by."""
        return np.asarray(self.transform("responses").scale, dtype=np.float32)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, InputNormalization):
            return NotImplemented
        mine, theirs = self.transforms, other.transforms
        return (
            self.stimulus_hw == other.stimulus_hw
            and mine.keys() == theirs.keys()
            and all(
                np.array_equal(mine[f].offset, theirs[f].offset)
                and np.array_equal(mine[f].scale, theirs[f].scale)
                for f in mine
            )
        )

    __hash__ = None  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict (arrays as lists; float32 values round-trip exactly)."""
        return {
            "stimulus_hw": list(self.stimulus_hw),
            "transforms": {
                field: {"offset": t.offset.tolist(), "scale": t.scale.tolist()}
                for field, t in self.transforms.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InputNormalization:
        """Rebuild from :meth:`to_dict` output."""
        try:
            transforms = {
                field: Affine(
                    np.asarray(t["offset"], dtype=np.float32),
                    np.asarray(t["scale"], dtype=np.float32),
                )
                for field, t in data["transforms"].items()
            }
            return cls(tuple(data["stimulus_hw"]), transforms)
        except (KeyError, TypeError, AttributeError, ValueError) as error:
            raise NeurotwinError(f"a saved input normalisation is malformed ({error!r})") from None


def _as_array(value: Any, what: str) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach"):  # a torch tensor
        return np.asarray(value.detach().cpu().numpy())
    try:
        return np.asarray(value)
    except Exception as error:
        raise NeurotwinError(f"{what} is not an array ({type(value).__name__})") from error


def _stimuli(stimuli: Any, hw: tuple[int, int], model_hw: tuple[int, int]) -> np.ndarray:
    """Check raw images (recording's or model's size); return them ``(N, 1, H, W)`` float32."""
    images = _as_array(stimuli, "stimuli")
    if images.dtype != np.uint8 and not np.issubdtype(images.dtype, np.floating):
        raise NeurotwinError(
            f"stimuli have dtype {images.dtype}; expected the raw pixel values "
            "(uint8, or floats 0..255 as stored in the recording)"
        )
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3 or tuple(images.shape[1:]) not in (tuple(hw), tuple(model_hw)):
        raise NeurotwinError(
            f"stimuli have shape {images.shape}; expected (N, {hw[0]}, {hw[1]}) raw images at "
            "the recording's size (the loaders' resize is applied here) or "
            f"(N, {model_hw[0]}, {model_hw[1]}) at the model's input size (not resized)"
        )
    if not len(images):
        raise NeurotwinError("no stimuli given (N = 0)")
    out = images.astype(np.float32)[:, None]
    if not np.isfinite(out).all():
        raise NeurotwinError("stimuli contain NaN or infinite values")
    if out.min() < 0 or out.max() > 255:
        raise NeurotwinError(
            f"stimuli range from {out.min():g} to {out.max():g}; expected raw pixel values "
            "0..255 as stored in the recording (not normalised images)"
        )
    return out


def _channels(value: Any, field: str, n: int, width: int) -> np.ndarray:
    array = _as_array(value, field)
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise NeurotwinError(f"{field} has dtype {array.dtype}; expected real numbers")
    if array.shape != (n, width):
        raise NeurotwinError(
            f"{field} has shape {array.shape}; expected ({n}, {width}) raw values, one row per "
            "stimulus"
        )
    out = array.astype(np.float32)
    if not np.isfinite(out).all():
        raise NeurotwinError(f"{field} contains NaN or infinite values")
    return out


def prepare_inputs(
    normalization: InputNormalization,
    required_fields: tuple[str, ...],
    image_hw: tuple[int, int],
    preprocessing: str,
    stimuli: Any,
    behavior: Any = None,
    pupil_center: Any = None,
    *,
    behavior_dim: int = 3,
    model: str = "model",
) -> dict[str, np.ndarray]:
    """Resize and normalise raw static inputs exactly as the loaders do.

    Parameters
    ----------
    normalization
        The recording's saved normalisation.
    required_fields
        The model's batch fields (``"images"``, then ``"behavior"``/``"pupil_center"``).
    image_hw
        Size the model takes (the loaders' resize target).
    preprocessing
        ``"neurotwin"`` or ``"kit"``: how the loaders resized (see :mod:`neurotwin.data.cache`).
    stimuli
        ``(N, H, W)`` (or ``(N, 1, H, W)``) raw images at the recording's size (resized
        as the loaders do) or already at ``image_hw`` (normalised only).
    behavior, pupil_center
        ``(N, C)`` and ``(N, 2)`` raw values, when the model reads them.
    behavior_dim
        Expected behaviour channels.
    model
        The model's name, for messages.

    Returns
    -------
    dict
        Float32 arrays by batch field: ``images`` ``(N, 1, h, w)``, and the others.

    Raises
    ------
    NeurotwinError
        A missing or unexpected field, or an array of the wrong shape or dtype.
    """
    images = _stimuli(stimuli, normalization.stimulus_hw, image_hw)
    n = len(images)
    if images.shape[-2:] != tuple(image_hw):
        resized = kit_rescale if preprocessing == "kit" else resize_images
        images = resized(images, image_hw)
    out = {"images": normalization.transform("images")(images)}
    given = {"behavior": behavior, "pupil_center": pupil_center}
    widths = {"behavior": behavior_dim, "pupil_center": 2}
    for field, value in given.items():
        if field not in required_fields:
            if value is not None:
                raise NeurotwinError(
                    f"model {model!r} does not read {field} (it reads "
                    f"{', '.join(required_fields)}); leave {field}= out"
                )
            continue
        if value is None:
            raise NeurotwinError(
                f"model {model!r} reads {field}; pass {field}= raw values of shape (N, "
                f"{widths[field]})"
            )
        array = _channels(value, field, n, widths[field])
        out[field] = normalization.transform(field)(array)
    return out
