"""The abstract base of every neurotwin model (a composed twin, an ensemble, your own).

:class:`TwinModule` implements the bookkeeping of the contract
(:class:`~neurotwin.models.contract.TwinModel`): the recordings a model predicts, a forward
pass split into ``features`` (the stimulus-driven part, e.g. a core's feature maps) and
``head`` (the per-recording part, e.g. readout, shifter, modulator and nonlinearity), and
:meth:`~TwinModule.predict_responses`, which turns raw stimuli into responses in the
recording's own unit with the input normalisation every
:class:`~neurotwin.models.RecordingInfo` carries. A subclass says which stimulus it takes
and which batch fields it reads; the loaders then deliver exactly those fields.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from neurotwin.errors import NeurotwinError
from neurotwin.models.contract import STIMULUS_FIELD, StimulusKind
from neurotwin.models.info import RecordingInfo
from neurotwin.models.normalization import prepare_inputs

#: Where to point a user whose model file predates the saved normalisation.
ATTACH_HINT = (
    "attach it with neurotwin.models.attach_normalization(model, recording) (the recording "
    "the model was trained on) and save the model again"
)


class TwinModule(nn.Module, abc.ABC):
    """Abstract base of models: one prediction per neuron of a named recording.

    A subclass implements :attr:`stimulus_kind`, :attr:`required_fields`,
    :meth:`features` and :meth:`head`, and may override :attr:`temporal_context`,
    :meth:`regularizer` (no penalty by default) and :meth:`receptive_field_positions`
    (None by default). Its ``__init__`` takes ``(infos, config)`` to be registered with
    :func:`~neurotwin.models.register_model`.

    Attributes
    ----------
    infos
        ``{recording_key: RecordingInfo}`` of the recordings the model predicts.
    name
        Registry name (``"sensorium+"``).
    config
        The model's configuration (a dataclass).
    """

    name: str = ""
    config: Any = None

    def __init__(self, infos: Mapping[str, RecordingInfo]) -> None:
        super().__init__()
        if not infos:
            raise NeurotwinError("a model needs at least one recording info")
        for key, info in infos.items():
            if not isinstance(info, RecordingInfo):
                raise NeurotwinError(
                    f"infos[{key!r}] is a {type(info).__name__}, expected a RecordingInfo "
                    "(see neurotwin.models.recording_infos)"
                )
            if info.key != key:
                raise NeurotwinError(f"infos[{key!r}] describes recording {info.key!r}")
        self.infos: dict[str, RecordingInfo] = dict(infos)

    # ------------------------------------------------------------------ what it is
    @property
    @abc.abstractmethod
    def stimulus_kind(self) -> StimulusKind:
        """``"static"`` (batches carry ``images``) or ``"video"`` (``videos``)."""

    @property
    @abc.abstractmethod
    def required_fields(self) -> tuple[str, ...]:
        """Batch fields the model reads: its stimulus field, then ``behavior``/``pupil_center``."""

    @property
    def temporal_context(self) -> int:
        """Frames at the start of a window without a prediction (0: static models)."""
        return 0

    @property
    def keys(self) -> tuple[str, ...]:
        """Recording keys the model predicts, in order."""
        return tuple(self.infos)

    @property
    def needs_behavior(self) -> bool:
        """Whether batches must carry ``behavior`` (from :attr:`required_fields`)."""
        return "behavior" in self.required_fields

    @property
    def needs_eye_position(self) -> bool:
        """Whether batches must carry ``pupil_center`` (from :attr:`required_fields`)."""
        return "pupil_center" in self.required_fields

    def check_key(self, key: str) -> RecordingInfo:
        """Return the info of ``key``, or raise naming the keys the model knows."""
        info = self.infos.get(key)
        if info is None:
            raise NeurotwinError(
                f"model {self.name or type(self).__name__!r} has no readout for recording key "
                f"{key!r}; it knows {', '.join(self.infos)}"
            )
        return info

    def extra_repr(self) -> str:
        """Name and recording keys in ``print(model)``."""
        return f"name={self.name!r}, keys={list(self.infos)}"

    # ------------------------------------------------------------------ forward pass
    @abc.abstractmethod
    def features(self, batch: Mapping[str, torch.Tensor], key: str) -> torch.Tensor:
        """Compute the stimulus-driven representation of a batch (e.g. a core's feature maps)."""

    @abc.abstractmethod
    def head(
        self, features: torch.Tensor, batch: Mapping[str, torch.Tensor], key: str
    ) -> torch.Tensor:
        """Map :meth:`features` to strictly positive responses of recording ``key``.

        Returns ``(B, n_neurons)`` (static) or ``(B, T - temporal_context, n_neurons)``
        (video).
        """

    def forward(self, batch: Mapping[str, torch.Tensor], key: str) -> torch.Tensor:
        """Predict strictly positive responses of recording ``key``: ``head(features(batch))``.

        Parameters
        ----------
        batch
            The loaders' batch: at least the fields in :attr:`required_fields`.
        key
            The recording key.

        Returns
        -------
        torch.Tensor
            ``(B, n_neurons)`` for static models, ``(B, T - temporal_context, n_neurons)``
            for video models, in the loaders' standardised response unit.
        """
        return self.head(self.features(batch, key), batch, key)

    def regularizer(self, key: str) -> torch.Tensor:
        """Return the scalar penalty added to the loss of a batch of ``key`` (default: 0)."""
        self.check_key(key)
        param = next(self.parameters(), None)
        return torch.zeros((), device=None if param is None else param.device)

    def receptive_field_positions(self, key: str) -> np.ndarray | None:
        """Return ``(n_neurons, 2)`` (row, col) readout centres in input pixels, or None."""
        self.check_key(key)
        return None

    # ------------------------------------------------------------------ raw stimuli
    def predict_responses(
        self,
        stimuli: np.ndarray,
        key: str | None = None,
        *,
        behavior: np.ndarray | None = None,
        pupil_center: np.ndarray | None = None,
        batch_size: int = 128,
    ) -> np.ndarray:
        """Predict responses to raw stimuli, in the recording's response units.

        The raw arrays are resized and normalised exactly as the loaders do (with the
        normalisation saved in the model's :class:`~neurotwin.models.RecordingInfo`, so
        the recording itself is not needed), run through the model in eval mode without
        gradients, and the predictions multiplied back by the loaders' response scale.

        Parameters
        ----------
        stimuli
            ``(N, H, W)`` (or ``(N, 1, H, W)``) raw images, uint8 or floats 0..255 as
            stored in the recording: at the recording's size (resized as the loaders do) or
            already at the model's input size ``infos[key].image_hw`` (normalised only).
        key
            The recording key; may be omitted when the model predicts one recording.
        behavior
            ``(N, C)`` raw behaviour, required when the model reads ``behavior``.
        pupil_center
            ``(N, 2)`` raw pupil centre, required when the model reads ``pupil_center``.
        batch_size
            Stimuli per forward pass.

        Returns
        -------
        numpy.ndarray
            ``(N, n_neurons)`` float32 responses in the unit of the recording's
            ``data/responses`` files.

        Raises
        ------
        NeurotwinError
            An unknown or missing key, a model file that predates the saved
            normalisation, a video model, or inputs of the wrong shape, dtype or size.
        """
        key = self._predict_key(key)
        info = self.check_key(key)
        label = self.name or type(self).__name__
        if info.normalization is None:
            raise NeurotwinError(
                f"model {label!r}: the info of recording {key!r} holds no input "
                "normalisation (the model file predates neurotwin saving it); " + ATTACH_HINT
            )
        if self.stimulus_kind != "static":
            raise NeurotwinError(
                f"model {label!r} takes {STIMULUS_FIELD[self.stimulus_kind]}; predict_responses "
                "takes static images only so far"
            )
        if batch_size < 1:
            raise NeurotwinError(f"batch_size must be positive, got {batch_size}")
        inputs = prepare_inputs(
            info.normalization,
            self.required_fields,
            info.image_hw,
            info.preprocessing,
            stimuli,
            behavior,
            pupil_center,
            behavior_dim=info.behavior_dim,
            model=label,
        )
        param = next(self.parameters(), None)
        device = torch.device("cpu") if param is None else param.device
        was_training = self.training
        self.eval()
        chunks = []
        try:
            with torch.no_grad():
                for start in range(0, len(inputs["images"]), batch_size):
                    batch = {
                        field: torch.from_numpy(value[start : start + batch_size]).to(device)
                        for field, value in inputs.items()
                    }
                    chunks.append(self(batch, key).float().cpu().numpy())
        finally:
            self.train(was_training)
        out: np.ndarray = np.concatenate(chunks) * info.normalization.response_scale
        return out.astype(np.float32, copy=False)

    def _predict_key(self, key: str | None) -> str:
        if key is not None:
            return key
        if len(self.infos) == 1:
            return next(iter(self.infos))
        raise NeurotwinError(
            f"model {self.name or type(self).__name__!r} predicts several recordings; "
            f"name one with key= ({', '.join(self.infos)})"
        )


def batch_field(batch: Mapping[str, torch.Tensor], field: str, model: str) -> torch.Tensor:
    """Return ``batch[field]`` or raise an error naming the field and the model."""
    value = batch.get(field)
    if value is None:
        raise NeurotwinError(
            f"model {model!r} needs {field!r} in every batch (present: {', '.join(batch)}); "
            "build the loaders with the fields in model.required_fields"
        )
    return value
