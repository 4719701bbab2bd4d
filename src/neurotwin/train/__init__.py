"""Train models: the 2022 kit's recipe, exact resume, progress, CUDA and DDP.

- :class:`TrainConfig`: the recipe (defaults: the kit's ``standard_trainer``).
- :func:`train`: train a model on ``{tier: {key: DataLoader}}``, early stopping on the
  validation correlation, run folder with checkpoint, metrics and best model.
- :func:`predict`: predictions of a loader in file-index order.
- :func:`train_ensemble`, :func:`resplit_loaders`: several members on re-split data.
- :func:`fit`: recordings + model name -> trained model.
- :class:`Task`, :class:`StaticTask`: the loss, prediction gathering and validation score.
- :mod:`neurotwin.train.optim`: optimisers and learning-rate schedules by name, weight averages.

The package face is lazy: ``import neurotwin.train`` (and :mod:`neurotwin.train.config`,
which the command line reads for its flags) imports no torch until a name is used.
"""

from typing import TYPE_CHECKING

from neurotwin._lazy import lazy_exports

if TYPE_CHECKING:
    from neurotwin.train.config import TrainConfig, resolve_device
    from neurotwin.train.ensemble import EnsembleResult, resplit_loaders, train_ensemble
    from neurotwin.train.fitting import fit, fit_ensemble
    from neurotwin.train.losses import loss_scale, poisson_loss
    from neurotwin.train.prediction import predict
    from neurotwin.train.tasks import StaticTask, Task
    from neurotwin.train.trainer import TrainingDiverged, TrainResult, train

_EXPORTS = {
    "EnsembleResult": "neurotwin.train.ensemble",
    "TrainConfig": "neurotwin.train.config",
    "TrainResult": "neurotwin.train.trainer",
    "StaticTask": "neurotwin.train.tasks",
    "Task": "neurotwin.train.tasks",
    "TrainingDiverged": "neurotwin.train.trainer",
    "fit": "neurotwin.train.fitting",
    "fit_ensemble": "neurotwin.train.fitting",
    "loss_scale": "neurotwin.train.losses",
    "poisson_loss": "neurotwin.train.losses",
    "predict": "neurotwin.train.prediction",
    "resolve_device": "neurotwin.train.config",
    "resplit_loaders": "neurotwin.train.ensemble",
    "train": "neurotwin.train.trainer",
    "train_ensemble": "neurotwin.train.ensemble",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = [
    "EnsembleResult",
    "StaticTask",
    "Task",
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "fit",
    "fit_ensemble",
    "loss_scale",
    "poisson_loss",
    "predict",
    "resolve_device",
    "resplit_loaders",
    "train",
    "train_ensemble",
]
