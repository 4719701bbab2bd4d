"""Train models: the 2022 kit's recipe, exact resume, progress, CUDA and DDP.

- :class:`TrainConfig`: the recipe (defaults: the kit's ``standard_trainer``).
- :func:`train`: train a model on ``{tier: {key: DataLoader}}``, early stopping on the
  validation correlation, run folder with checkpoint, metrics and best model.
- :func:`predict`: predictions of a loader in file-index order.
- :func:`train_ensemble`, :func:`resplit_loaders`: several members on re-split data.
- :func:`fit`: recordings + model name -> trained model.
- :class:`Task`, :class:`StaticTask`: the loss, prediction gathering and validation score.
- :mod:`neurotwin.train.optim`: optimisers and learning-rate schedules by name, weight averages.
"""

from neurotwin.train.config import TrainConfig, resolve_device
from neurotwin.train.ensemble import EnsembleResult, resplit_loaders, train_ensemble
from neurotwin.train.fit import fit, fit_ensemble
from neurotwin.train.losses import loss_scale, poisson_loss
from neurotwin.train.predict import predict
from neurotwin.train.tasks import StaticTask, Task
from neurotwin.train.trainer import TrainingDiverged, TrainResult, train

__all__ = [
    "EnsembleResult",
    "TrainConfig",
    "TrainResult",
    "StaticTask",
    "Task",
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
