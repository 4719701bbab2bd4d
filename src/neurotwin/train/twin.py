"""What the trainer needs of a :class:`~neurotwin.models.contract.TwinModel` beyond the contract.

The trainer is typed against the contract; it also needs the model's parameters as a torch
module (for DDP, :func:`torch.compile` and the training/eval mode), which
:func:`module_of` checks once with a clear error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from neurotwin.errors import NeurotwinError

if TYPE_CHECKING:
    from neurotwin.models.contract import TwinModel


def module_of(model: TwinModel) -> nn.Module:
    """Return the model as a :class:`torch.nn.Module` (it is one: the trainer needs its weights).

    Parameters
    ----------
    model
        A model following the contract.

    Returns
    -------
    torch.nn.Module
        The same object.

    Raises
    ------
    NeurotwinError
        When the model is not a torch module.
    """
    if not isinstance(model, nn.Module):
        raise NeurotwinError(
            f"the trainer trains torch modules; {type(model).__name__} is not a torch.nn.Module"
        )
    return model
