"""The training recipe: one typed, documented config, written next to every run.

The defaults reproduce the 2022 SENSORIUM starting kit's ``standard_trainer`` as the kit's
notebooks call it (``lr_init=0.009``, ``lr_decay_steps=4``, ``avg_loss=False``,
``max_iter=200``, the function's defaults for everything else, loaders with batch size 128).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from neurotwin.errors import NeurotwinError

if TYPE_CHECKING:  # torch is imported where a device is resolved: the CLI reads this
    import torch  # module for its flags without importing torch

#: Losses the trainer knows.
LOSSES = ("poisson",)
#: Optimisers and learning-rate schedules (built in :mod:`neurotwin.train.optim`).
OptimizerName = Literal["adam", "adamw"]
ScheduleName = Literal["plateau", "cosine"]
OPTIMIZER_NAMES: tuple[str, ...] = get_args(OptimizerName)
SCHEDULE_NAMES: tuple[str, ...] = get_args(ScheduleName)
#: ``"auto"``: fields left at their defaults take the recipe of the model's kind (see
#: :meth:`TrainConfig.for_kind`); ``"given"``: every field as it is.
RecipeName = Literal["auto", "given", "dwise"]
RECIPE_NAMES: tuple[str, ...] = get_args(RecipeName)

#: The 2023 kit's recipe for video models, where it differs from :class:`TrainConfig`'s
#: defaults (the 2022 kit's): AdamW at learning rate 0.005 on batches of 8 windows. Its
#: plateau decay (factor 0.3, patience 5, absolute threshold 1e-6, minimum 1e-4, up to 4
#: decays, at most 200 epochs) and windows of 80 frames are the defaults already. The
#: published recipe names no weight decay: AdamW's own default (0.01 in torch), which the
#: kit gets by naming none, is used.
VIDEO_RECIPE: dict[str, Any] = {"optimizer": "adamw", "lr": 0.005, "batch_size": 8}
#: The weight decay of AdamW when none is set (torch's default).
ADAMW_WEIGHT_DECAY = 0.01

#: Fields that change the course of training: resuming a checkpoint needs them unchanged.
TRAJECTORY_FIELDS = (
    "lr",
    "lr_decay_steps",
    "lr_decay_factor",
    "patience",
    "min_lr",
    "tolerance",
    "loss",
    "scale_loss",
    "avg_loss",
    "batch_size",
    "seed",
    "optimizer",
    "weight_decay",
    "schedule",
    "warmup_epochs",
    "ema_decay",
    "window",
    "cutmix_prob",  # dwise recipe
    "cutmix_alpha",
)


@dataclass(frozen=True)
class TrainConfig:
    """How to train a model (by default Adam, learning rate decayed on plateau, early stopping).

    Training runs epoch by epoch. After each epoch the mean per-neuron correlation on the
    validation tier is computed; when it has not improved by more than ``tolerance`` for
    ``patience`` epochs, the best weights so far are restored (one *decay step*; the
    plateau scheduler, with the same patience and tolerance, lowers the learning rate by
    ``lr_decay_factor``), and training stops after ``lr_decay_steps`` of them or
    ``max_epochs`` epochs, keeping the best weights.

    Attributes
    ----------
    lr
        Initial learning rate of Adam (kit: ``lr_init``; 0.009 in the kit's notebooks).
    lr_decay_steps
        Restorations of the best weights (and learning-rate decays) before stopping.
    lr_decay_factor
        Factor of each learning-rate decay.
    patience
        Epochs without improvement before a decay step.
    min_lr
        Lower bound of the learning rate.
    tolerance
        Improvement of the validation correlation that counts as one (absolute).
    max_epochs
        Upper bound on epochs (kit: ``max_iter``, 200).
    loss
        ``"poisson"``: sum over neurons and trials of ``pred - target * log(pred + eps)``.
    scale_loss
        Multiply each batch's loss by ``sqrt(n_train / batch_size)`` of its recording.
    avg_loss
        Average the loss over the batch and neurons instead of summing it.
    batch_size
        Trials per training and validation batch: the batch size of the loaders
        :func:`~neurotwin.train.fitting.fit` builds; :func:`~neurotwin.train.train` refuses loaders
        of another one.
    seed
        Seeds the weights' initialisation order, the shuffling of every epoch (of the loaders
        that shuffle; their own seed only orders them outside the trainer) and the random
        draws of training (42, as in the kit's notebooks).
    device
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        Under ``torchrun`` each process uses ``cuda:LOCAL_RANK``.
    channels_last
        Put the model and the images in channels-last memory format (faster convolutions
        on CPU and recent GPUs; measured 1.45x per epoch on CPU for the kit's core).
    compile
        Run the training forward pass through :func:`torch.compile`: True, False, or
        ``"auto"``, which trains the first epoch eagerly and compiles from the second on
        only when the time left (``time_limit``) is expected to pay for the compilation
        (see :func:`neurotwin.train.trainer.compile_pays`); without a time limit ``"auto"``
        compiles.
    num_threads
        CPU threads of torch (None: torch's default).
    keep_freed_memory
        On a CPU, make glibc's malloc keep freed memory for reuse instead of unmapping every
        large block (:func:`neurotwin.train.allocator.keep_freed_memory`; the process then
        holds its peak memory until it exits). Measured 1.8x per training step of the kit's
        core on 2 cores. Ignored on CUDA and without glibc.
    progress
        Show a progress bar over each epoch's batches with the running loss and the last
        validation correlation.
    time_limit
        Wall-clock budget of one call of the trainer in seconds (None: no limit). After
        each epoch the trainer predicts the next epoch's time from the last one and stops
        when it would not end within the budget (stop reason ``"time_limit"``), keeping
        the best weights. Within an epoch it extrapolates the batches done (plus the last
        validation's time); an epoch projected to end late (the first one, on a slow
        machine) is abandoned and the run returns to its last finished epoch. A run
        stopped by its time limit stays finished when resumed with the same limit; with
        another one (or none) it trains on, the limit counting the time of the new call.
    reserve_validations
        Time the limit keeps free after training, in validation passes (measured on the
        validation tier at every epoch): e.g. the test tiers' size over the validation
        tier's, to predict them within the same budget.
    optimizer
        Optimiser by name: ``"adam"`` (the kit's) or ``"adamw"`` (decoupled weight decay);
        see :mod:`neurotwin.train.optim`.
    weight_decay
        Weight decay of the optimiser (AdamW's usual values: 0.01 to 0.05).
    schedule
        Learning-rate schedule by name: ``"plateau"`` (the kit's decay when the validation
        correlation stops improving) or ``"cosine"`` (linear warm-up, then cosine decay to
        ``min_lr``, stepped per optimiser step).
    warmup_epochs
        Epochs of linear warm-up of the cosine schedule.
    ema_decay
        Keep an exponential moving average of the weights with this decay per step (e.g.
        0.999), validated and saved instead of the weights (None: no average). The decay
        warms up as ``min(ema_decay, (1 + n) / (10 + n))`` after step ``n``
        (:class:`~neurotwin.train.optim.WeightAverage`), so short runs average recent
        weights, not the random start.
    recipe
        How the defaults are chosen. ``"auto"``: :func:`~neurotwin.train.fit` (and
        ``neurotwin train``) give every field still at its default the value of the
        recipe of the model's kind (:meth:`for_kind`): the 2022 kit's for static models
        (the defaults above), the 2023 kit's for video models (:data:`VIDEO_RECIPE`:
        AdamW, learning rate 0.005, batches of 8, weight decay 0.01). ``"given"``: every
        field as it is. ``"dwise"``: the 2023 winner's recipe
        (:func:`neurotwin.train.optim.recipe`), with the fields set away from their
        defaults kept. The run's ``config.json`` records the effective values (and
        ``"given"``). A field set to its 2022 default by hand counts as unset here; pass
        ``recipe="given"`` to keep it for a video model (the command line keeps every
        flag given).
    window
        Video: frames of the random training windows (the 2023 kit's 80); every training
        trial must be at least that long (:func:`~neurotwin.train.fit` refuses a longer
        window).
    cutmix_prob
        Video: probability of CutMix on a training batch (within its recording; see
        :mod:`neurotwin.train.cutmix`); 0 turns it off.
    cutmix_alpha
        Video: ``alpha`` of the Beta distribution of CutMix's kept share (1: uniform).
    bf16
        Train the forward pass under bfloat16 autocast on CUDA (ignored on a CPU);
        validation runs in float32.
    channels_last_3d
        Video, on CUDA: put the model's 3-D convolutions and the videos in channels-last-3d
        memory format (ignored on a CPU, where it measured 1.3-1.8x slower for
        ``video-dwise-small``).
    """

    lr: float = 0.009
    lr_decay_steps: int = 4
    lr_decay_factor: float = 0.3
    patience: int = 5
    min_lr: float = 1e-4
    tolerance: float = 1e-6
    max_epochs: int = 200
    loss: str = "poisson"
    scale_loss: bool = True
    avg_loss: bool = False
    batch_size: int = 128
    seed: int = 42
    device: str = "auto"
    channels_last: bool = True
    compile: bool | str = False
    num_threads: int | None = None
    keep_freed_memory: bool = True
    progress: bool = True
    time_limit: float | None = None
    reserve_validations: float = 0.0
    optimizer: OptimizerName = "adam"
    weight_decay: float = 0.0
    schedule: ScheduleName = "plateau"
    warmup_epochs: int = 0
    ema_decay: float | None = None
    # video recipe
    recipe: RecipeName = "auto"
    window: int = 80
    # dwise recipe
    cutmix_prob: float = 0.0
    cutmix_alpha: float = 1.0
    bf16: bool = False
    channels_last_3d: bool = False

    def _check_dwise_recipe(self) -> None:
        prob, alpha = self.cutmix_prob, self.cutmix_alpha
        if isinstance(prob, bool) or not isinstance(prob, int | float) or not 0 <= prob <= 1:
            raise NeurotwinError(f"cutmix_prob must lie in [0, 1], got {prob!r}")
        if (
            isinstance(alpha, bool)
            or not isinstance(alpha, int | float)
            or not 0 < alpha < math.inf
        ):
            raise NeurotwinError(f"cutmix_alpha must be a positive number, got {alpha!r}")
        for name in ("bf16", "channels_last_3d"):
            if not isinstance(getattr(self, name), bool):
                raise NeurotwinError(f"{name} must be true or false, got {getattr(self, name)!r}")

    def __post_init__(self) -> None:
        positive_int = ("lr_decay_steps", "patience", "max_epochs", "batch_size", "window")
        for name in positive_int:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise NeurotwinError(
                    f"train option {name!r} must be a positive integer, got {value!r}"
                )
        for name in ("lr", "min_lr", "lr_decay_factor"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not 0 < value < math.inf  # NaN fails this too
            ):
                raise NeurotwinError(
                    f"train option {name!r} must be a positive finite number, got {value!r}"
                )
        if not self.lr_decay_factor < 1:
            raise NeurotwinError(f"lr_decay_factor must lie in (0, 1), got {self.lr_decay_factor}")
        if isinstance(self.tolerance, bool) or not isinstance(self.tolerance, int | float):
            raise NeurotwinError(f"tolerance must be a number, got {self.tolerance!r}")
        if not 0 <= self.tolerance < math.inf:
            raise NeurotwinError(f"tolerance must be >= 0, got {self.tolerance}")
        if self.loss not in LOSSES:
            raise NeurotwinError(f"unknown loss {self.loss!r}; known: {', '.join(LOSSES)}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise NeurotwinError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.num_threads is not None and (
            not isinstance(self.num_threads, int) or self.num_threads < 1
        ):
            raise NeurotwinError(
                f"num_threads must be a positive integer, got {self.num_threads!r}"
            )
        if not isinstance(self.keep_freed_memory, bool):
            raise NeurotwinError(
                f"keep_freed_memory must be true or false, got {self.keep_freed_memory!r}"
            )
        if self.compile not in (True, False, "auto"):
            raise NeurotwinError(f"compile must be true, false or 'auto', got {self.compile!r}")
        limit = self.time_limit
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int | float) or not limit > 0
        ):
            raise NeurotwinError(f"time_limit must be a positive number of seconds, got {limit!r}")
        reserve = self.reserve_validations
        if isinstance(reserve, bool) or not isinstance(reserve, int | float) or not reserve >= 0:
            raise NeurotwinError(f"reserve_validations must be a number >= 0, got {reserve!r}")
        _check_device_syntax(self.device)
        self._check_optimisation()
        self._check_dwise_recipe()

    def _check_optimisation(self) -> None:
        if self.optimizer not in OPTIMIZER_NAMES:
            raise NeurotwinError(
                f"unknown optimizer {self.optimizer!r}; known: {', '.join(OPTIMIZER_NAMES)}"
            )
        if self.schedule not in SCHEDULE_NAMES:
            raise NeurotwinError(
                f"unknown schedule {self.schedule!r}; known: {', '.join(SCHEDULE_NAMES)}"
            )
        decay = self.weight_decay
        if isinstance(decay, bool) or not isinstance(decay, int | float) or not decay >= 0:
            raise NeurotwinError(f"weight_decay must be a number >= 0, got {decay!r}")
        warmup = self.warmup_epochs
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
            raise NeurotwinError(f"warmup_epochs must be an integer >= 0, got {warmup!r}")
        if warmup and self.schedule != "cosine":
            raise NeurotwinError(
                f"warmup_epochs ({warmup}) needs schedule 'cosine' (schedule is {self.schedule!r})"
            )
        ema = self.ema_decay
        if ema is not None and (
            isinstance(ema, bool) or not isinstance(ema, int | float) or not 0 < ema < 1
        ):
            raise NeurotwinError(f"ema_decay must lie in (0, 1) or be None, got {ema!r}")
        if self.recipe not in RECIPE_NAMES:
            raise NeurotwinError(
                f"unknown recipe {self.recipe!r}; known: {', '.join(RECIPE_NAMES)}"
            )

    def for_kind(self, kind: str) -> TrainConfig:
        """Return the recipe a model of stimulus ``kind`` trains with (see ``recipe``).

        With ``recipe="auto"``, a video model's fields that are still at their defaults
        take the 2023 kit's values (:data:`VIDEO_RECIPE`; AdamW's weight decay 0.01 when
        the optimiser is AdamW and no weight decay is set); a static model keeps the
        defaults (the 2022 kit's). The result has ``recipe="given"``, so resolving it
        again changes nothing. A config with ``recipe="given"`` is returned as it is.

        Parameters
        ----------
        kind
            The model's ``stimulus_kind`` (``"static"`` or ``"video"``).

        Returns
        -------
        TrainConfig
            The effective recipe.
        """
        if self.recipe == "given":
            return self
        if self.recipe != "auto":  # a named recipe; the fields set away from the defaults win
            from neurotwin.train.optim import recipe  # optim imports this module

            defaults = TrainConfig()
            given = {
                f.name: getattr(self, f.name)
                for f in fields(self)
                if f.name != "recipe" and getattr(self, f.name) != getattr(defaults, f.name)
            }
            return recipe(self.recipe, **given)
        changes: dict[str, Any] = {"recipe": "given"}
        if kind == "video":
            defaults = TrainConfig()
            for name, value in VIDEO_RECIPE.items():
                if getattr(self, name) == getattr(defaults, name):
                    changes[name] = value
            optimizer = changes.get("optimizer", self.optimizer)
            if optimizer == "adamw" and self.weight_decay == defaults.weight_decay:
                changes["weight_decay"] = ADAMW_WEIGHT_DECAY
        return dataclasses.replace(self, **changes)

    def replace(self, **changes: Any) -> TrainConfig:
        """Return a copy with some fields changed (unknown names are refused).

        Parameters
        ----------
        **changes
            New values of fields.

        Returns
        -------
        TrainConfig
            The new config.
        """
        _check_names(changes)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Return the config as a JSON-able dict.

        Returns
        -------
        dict
            One entry per field.
        """
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build a config from a dict such as :meth:`to_dict` writes.

        Parameters
        ----------
        values
            Field values; missing fields keep their defaults.

        Returns
        -------
        TrainConfig
            The config.

        Raises
        ------
        NeurotwinError
            For an unknown field (with the closest known names) or an invalid value.
        """
        _check_names(values)
        return cls(**values)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the config as JSON.

        Parameters
        ----------
        path
            The file to write.
        """
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrainConfig:
        """Read a config written by :meth:`save`.

        Parameters
        ----------
        path
            The JSON file.

        Returns
        -------
        TrainConfig
            The config.
        """
        try:
            values = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise NeurotwinError(f"{path}: cannot read a train config: {exc}") from exc
        if not isinstance(values, dict):
            raise NeurotwinError(f"{path}: a train config must be a JSON object")
        return cls.from_dict(values)


#: The 2022 kit's names of fields that neurotwin names differently.
KIT_NAMES = {"lr_init": "lr", "max_iter": "max_epochs", "loss_function": "loss"}


def _check_names(values: dict[str, Any]) -> None:
    known = [f.name for f in fields(TrainConfig)]
    for name in values:
        if name not in known:
            close = [KIT_NAMES[name]] if name in KIT_NAMES else []
            close = close or difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise NeurotwinError(f"unknown train option {name!r}{hint}; known: {', '.join(known)}")


def _check_device_syntax(device: str) -> None:
    if not isinstance(device, str):
        raise NeurotwinError(f"device must be a string, got {device!r}")
    if device in ("auto", "cpu", "cuda"):
        return
    if device.startswith("cuda:") and device[5:].isdigit():
        return
    raise NeurotwinError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")


def _available() -> str:
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if not count:
        return f"only the CPU is available (torch {torch.__version__})"
    names = ", ".join(f"cuda:{i}" for i in range(count))
    return f"available: cpu, {names}"


def resolve_device(device: str, local_rank: int | None = None) -> torch.device:
    """Turn a config's device string into a :class:`torch.device`.

    Parameters
    ----------
    device
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    local_rank
        Under distributed training, this process's local rank: ``"cuda"`` and ``"auto"``
        then mean ``cuda:local_rank``.

    Returns
    -------
    torch.device
        The device to train on.

    Raises
    ------
    NeurotwinError
        When CUDA is asked for but absent, or the device number does not exist; the
        message says what is available.
    """
    import torch

    _check_device_syntax(device)
    has_cuda = torch.cuda.is_available() and torch.cuda.device_count() > 0
    if device == "cpu" or (device == "auto" and not has_cuda):
        return torch.device("cpu")
    if not has_cuda:
        raise NeurotwinError(f"device {device!r} asks for CUDA but {_available()}")
    if device in ("auto", "cuda"):
        index = local_rank or 0
    else:
        index = int(device[5:])
    if index >= torch.cuda.device_count():
        raise NeurotwinError(f"device cuda:{index} does not exist; {_available()}")
    return torch.device("cuda", index)
