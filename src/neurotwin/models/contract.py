"""The model contract that training, prediction and submission code are typed against.

Any object with these attributes and methods can be trained (:mod:`neurotwin.train`),
predicted from and submitted (:mod:`neurotwin.submit`): the composed twins, ensembles and a
user's own module. :class:`~neurotwin.models.base.TwinModule` is the abstract base that
implements the bookkeeping; this :class:`typing.Protocol` is what callers may rely on, so
no caller has to probe a model with ``getattr``.

Batch fields
------------
A batch is a mapping of field name to tensor. The stimulus field is ``"images"``
``(B, 1, H, W)`` for static models and ``"videos"`` ``(B, 1, T, H, W)`` for video models;
``"behavior"`` is ``(B, C)`` (static) or ``(B, C, T)`` (video); ``"pupil_center"`` is
``(B, 2)`` or ``(B, 2, T)``: channels before time, as the loaders
(:func:`neurotwin.data.make_loaders`) deliver them. Video batches also hold ``responses``
``(B, T, n)`` and ``length`` ``(B,)``, the valid frames of each trial (zero padding after).
A model lists the fields it reads in :attr:`required_fields`, and the loaders deliver
exactly those.

Output
------
Static: ``(B, n_neurons)``. Video: ``(B, T - temporal_context, n_neurons)``: a model that
needs ``temporal_context`` frames of history predicts nothing for the first frames of a
window, and the targets are aligned to match.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import torch

from neurotwin.models.info import RecordingInfo

#: The kind of stimulus a model takes.
StimulusKind = Literal["static", "video"]

#: Batch field of the stimulus, per kind.
STIMULUS_FIELD: dict[str, str] = {"static": "images", "video": "videos"}


@runtime_checkable
class TwinModel(Protocol):
    """What every trainable, predictable, submittable model provides (see module docstring)."""

    name: str
    infos: dict[str, RecordingInfo]

    @property
    def keys(self) -> tuple[str, ...]:
        """Recording keys the model predicts, in order."""
        ...

    @property
    def stimulus_kind(self) -> StimulusKind:
        """``"static"`` (images) or ``"video"``."""
        ...

    @property
    def required_fields(self) -> tuple[str, ...]:
        """Batch fields the model reads: its stimulus field, then ``behavior``/``pupil_center``."""
        ...

    @property
    def temporal_context(self) -> int:
        """Frames at the start of a window without a prediction (0 for static models)."""
        ...

    def __call__(self, batch: Mapping[str, torch.Tensor], key: str) -> torch.Tensor:
        """Predict strictly positive responses of recording ``key`` (shape: module docstring)."""
        ...

    def regularizer(self, key: str) -> torch.Tensor:
        """Scalar penalty added to the loss of a batch of recording ``key``."""
        ...

    def receptive_field_positions(self, key: str) -> np.ndarray | None:
        """``(n_neurons, 2)`` (row, col) readout centres in input pixels, or None."""
        ...

    def predict_responses(
        self,
        stimuli: np.ndarray,
        key: str | None = None,
        *,
        behavior: np.ndarray | None = None,
        pupil_center: np.ndarray | None = None,
        batch_size: int = 128,
    ) -> np.ndarray:
        """Predict responses to raw stimuli in the recording's response units."""
        ...

    # The parts of torch.nn.Module that the trainer uses.
    def parameters(self, recurse: bool = True) -> Iterator[torch.nn.Parameter]:
        """Return the trainable parameters (as :meth:`torch.nn.Module.parameters`)."""
        ...

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Return the weights (as :meth:`torch.nn.Module.state_dict`)."""
        ...

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> Any:
        """Load weights (as :meth:`torch.nn.Module.load_state_dict`)."""
        ...

    def train(self, mode: bool = True) -> Any:
        """Switch to training mode (as :meth:`torch.nn.Module.train`)."""
        ...

    def eval(self) -> Any:
        """Switch to evaluation mode (as :meth:`torch.nn.Module.eval`)."""
        ...

    def to(self, *args: Any, **kwargs: Any) -> Any:
        """Move to a device or dtype (as :meth:`torch.nn.Module.to`)."""
        ...
