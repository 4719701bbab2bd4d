"""From recording paths and a model name to a trained model, in one call."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from torch.utils.data import DataLoader

from neurotwin.data.loaders import DEFAULT_SCALE as KIND_SCALE
from neurotwin.data.loaders import LoaderConfig, make_loaders, scaled_hw
from neurotwin.data.recording import Recording, VideoRecording, open_recording, recording_path
from neurotwin.errors import NeurotwinError
from neurotwin.train.config import TrainConfig, resolve_device
from neurotwin.train.distributed import DistEnv, barrier, start, stop
from neurotwin.train.ensemble import EnsembleResult, check_ensemble, train_ensemble
from neurotwin.train.lock import check_run_folder, check_run_kind
from neurotwin.train.trainer import Log, TrainResult
from neurotwin.train.trainer import train as run_training

if TYPE_CHECKING:
    from neurotwin.models.contract import TwinModel

PathLike = str | os.PathLike[str]
#: A recording given by its folder or zip, or already open.
RecordingLike = PathLike | Recording
#: Resize factor of the images when no size is given (144 x 256 -> 36 x 64, as the kit).
DEFAULT_SCALE = 0.25
#: Frames of the random training windows of video recordings (the 2023 kit's 80).
DEFAULT_WINDOW = TrainConfig.window
#: The tier video models early-stop on (2023 recordings have no ``validation`` tier).
VIDEO_VALIDATION = "oracle"


def _paths(paths: RecordingLike | Sequence[RecordingLike]) -> list[PathLike]:
    """Where each recording is (kept for callers that need the paths, not the objects)."""
    if isinstance(paths, str | os.PathLike | Recording):
        return [recording_path(paths)]
    if not paths:
        raise NeurotwinError("no recording paths given")
    return [recording_path(p) for p in paths]


def open_recordings(recordings: RecordingLike | Sequence[RecordingLike]) -> list[Recording]:
    """Open every recording once (open ones are kept as they are).

    Parameters
    ----------
    recordings
        Recording folders or zips, or open recordings.

    Returns
    -------
    list of Recording
        In the order given.

    Raises
    ------
    NeurotwinError
        For an empty list, or several recordings with the same key.
    """
    if isinstance(recordings, str | os.PathLike | Recording):
        recordings = [recordings]
    if not recordings:
        raise NeurotwinError("no recording paths given")
    opened: list[Recording] = [open_recording(r) for r in recordings]
    keys = [r.key for r in opened]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise NeurotwinError(f"several recordings share the key(s) {duplicates}; pass each once")
    return opened


def model_image_size(
    paths: RecordingLike | Sequence[RecordingLike], size: tuple[int, int] | None = None
) -> tuple[int, int]:
    """Return the stimulus size the models see: ``size``, or the first recording's, scaled.

    Static images are scaled by 0.25 (144 x 256 -> 36 x 64), video frames kept (x 1).

    Parameters
    ----------
    paths
        Recording folders or zips, or open recordings (an open one is not read again).
    size
        An explicit ``(height, width)``.

    Returns
    -------
    tuple of int
        ``(height, width)``; every recording is resized to it.
    """
    if size is not None:
        return int(size[0]), int(size[1])
    first = open_recording(paths if isinstance(paths, str | os.PathLike | Recording) else paths[0])
    return scaled_hw(first.stimulus_hw, KIND_SCALE.get(first.kind, DEFAULT_SCALE))


def _check_kinds(recordings: list[Recording], kind: str, name: str) -> None:
    """Refuse recordings of another stimulus kind than the model's, naming the first."""
    for recording in recordings:
        if recording.kind != kind:
            raise NeurotwinError(
                f"{recording.location}: is a {recording.kind} recording but model "
                f"{name!r} is a {kind} model; train a {recording.kind} model on it"
            )


def _check_window(recordings: list[Recording], model: TwinModel, frames: int) -> None:
    """Refuse a training window that a training trial does not fill, or a trial of no frames.

    Every training trial must hold a whole window (none is skipped silently), and no trial
    of the ``train`` or ``oracle`` tier may be all padding.
    """
    if frames <= model.temporal_context:
        raise NeurotwinError(
            f"the training window of {frames} frames must be longer than model "
            f"{model.name!r}'s temporal context of {model.temporal_context} frames"
        )
    for recording in recordings:
        assert isinstance(recording, VideoRecording)  # _check_kinds ran first
        for tier in ("train", VIDEO_VALIDATION):
            indices = recording.tier_indices(tier)
            empty = indices[recording.lengths[indices] == 0]
            if empty.size:
                where = recording.source.where(f"data/videos/{int(empty[0])}.npy")
                raise NeurotwinError(
                    f"{where} (tier {tier!r}): the trial is all padding (its first frame is "
                    f"NaN), {empty.size} such trial(s) in the tier; every {tier} trial needs "
                    "frames to train or validate on: give it the tier 'none' or remove it"
                )
        train = recording.tier_indices("train")
        lengths = recording.lengths[train]
        longest = int(max(lengths, default=0))
        if longest < frames:
            raise NeurotwinError(
                f"{recording.location}: no training trial is {frames} frames long (the longest "
                f"has {longest}); choose a window of at most {longest} frames"
            )
        shortest = int(np.argmin(lengths))
        if lengths[shortest] < frames:
            where = recording.source.where(f"data/videos/{int(train[shortest])}.npy")
            raise NeurotwinError(
                f"{where}: the training trial has {int(lengths[shortest])} frames, fewer than "
                f"the training window of {frames} frames; choose a window of at most "
                f"{int(lengths[shortest])} frames (fit(frames=...), --frames) so that every "
                "training trial fills one"
            )


def model_kind(model: str) -> str:
    """Return the stimulus kind (``"static"`` or ``"video"``) of a registered model.

    Parameters
    ----------
    model
        Registry name (:func:`neurotwin.models.list_models`).

    Returns
    -------
    str
        ``"video"`` for the video twins, else ``"static"``.

    Raises
    ------
    NeurotwinError
        For an unknown name.
    """
    from neurotwin import models  # the models package is only needed here
    from neurotwin.models.video_twin import VideoTwinConfig

    return "video" if isinstance(models.default_config(model), VideoTwinConfig) else "static"


def _prepare(
    paths: RecordingLike | Sequence[RecordingLike],
    model: str,
    config: TrainConfig,
    cache_dir: PathLike | None,
    size: tuple[int, int] | None,
    model_config: dict[str, Any],
    resume_from: Sequence[Path] = (),
) -> tuple[Callable[[], TwinModel], TwinModel, dict[str, dict[str, DataLoader[Any]]], TrainConfig]:
    """Infos, a factory of models, the first model, loaders and the effective recipe.

    Every recording is opened once here and passed on as the open object; a checkpoint in
    a folder of ``resume_from`` must fit the model built. The recipe's
    defaults are those of the model's kind (:meth:`TrainConfig.for_kind`). Video
    recordings train on random windows of ``config.window`` frames (every training trial
    at least that long) and early-stop on their ``oracle`` tier, handed to the trainer as
    its ``validation`` tier.
    """
    from neurotwin import models  # the models package is only needed here

    recordings = open_recordings(paths)
    # before building: a model built for the wrong kind fails with a less useful message
    expected = model_kind(model)
    _check_kinds(recordings, expected, model)
    config = config.for_kind(expected)
    frames = config.window
    hw = model_image_size(recordings, size)
    # open recordings pass through recording_infos' open_recording unread
    infos = models.recording_infos(cast(list[Any], recordings), hw)

    def make() -> TwinModel:
        return models.create_model(model, infos, **model_config)

    torch.manual_seed(config.seed)
    first = make()
    _check_kinds(recordings, first.stimulus_kind, model)
    video = first.stimulus_kind == "video"
    if video:
        _check_window(recordings, first, frames)
    for folder in resume_from:
        _check_resumable(folder, first, recordings)
    env = DistEnv.from_environ()
    if env.distributed and not env.is_main:
        barrier()  # rank 0 builds the caches first, the others then find them
    loader_config = LoaderConfig(
        batch_size=config.batch_size,
        fields=first.required_fields,
        tiers=("train", VIDEO_VALIDATION if video else "validation"),
        seed=config.seed,
        size=hw,
        frames=frames,
    )
    loaders = make_loaders(
        recordings, loader_config, cache_dir=cache_dir, progress=config.progress and env.is_main
    )
    if video and VIDEO_VALIDATION in loaders:
        loaders["validation"] = loaders.pop(VIDEO_VALIDATION)
    if env.distributed and env.is_main:
        barrier()
    return make, first, loaders, config


def _check_resumable(folder: Path, model: TwinModel, recordings: list[Recording]) -> None:
    """Refuse to resume a checkpoint whose readouts were built for other neurons.

    Compares the shapes of the per-recording weights (their names hold the recording
    key) in ``folder/checkpoint.pt`` with the model built for ``recordings``, so that a
    recording whose neurons changed is named with both counts instead of a torch error.
    A checkpoint of the same shapes (neurons reordered, say) cannot be told apart.
    """
    from neurotwin.train import checkpoint as files
    from neurotwin.train.twin import module_of

    path = folder / files.CHECKPOINT
    if not path.exists():
        return
    saved = files.load_checkpoint(path).get("model", {})
    mine = module_of(model).state_dict()
    for recording in recordings:
        key = recording.key
        n = model.infos[key].n_neurons
        for name, value in mine.items():
            if key not in name.split("."):
                continue
            old = saved.get(name)
            if old is None:
                raise NeurotwinError(
                    f"{path} has no readout for recording {recording.location} (key {key!r}): "
                    "it was trained on other recordings; start over (resume=False, "
                    "--no-resume) or use another run folder"
                )
            if tuple(old.shape) != tuple(value.shape):
                differ = [
                    d
                    for d, (a, b) in enumerate(zip(old.shape, value.shape, strict=False))
                    if a != b
                ]
                count = (
                    f"{int(old.shape[differ[0]])} neurons"
                    if old.ndim == value.ndim and len(differ) == 1 and value.shape[differ[0]] == n
                    else f"weights {name} of shape {tuple(old.shape)}"
                )
                raise NeurotwinError(
                    f"{path}: its readout of recording key {key!r} was built for {count}, but "
                    f"{recording.location} has {n} neurons (its meta/neurons/unit_ids.npy); "
                    "resume with the recording it was trained on, or start over (resume=False, "
                    "--no-resume)"
                )


def _with_window(config: TrainConfig, frames: int | None) -> TrainConfig:
    """Return the recipe with ``frames`` as its window, when given (in config.json)."""
    return config if frames is None else config.replace(window=frames)


@contextlib.contextmanager
def _process_group(config: TrainConfig) -> Iterator[None]:
    """Start the process group under torchrun (the trainer then uses it as it is)."""
    env = DistEnv.from_environ()
    device = resolve_device(config.device, env.local_rank if env.distributed else None)
    started = start(env, device)
    try:
        yield
    finally:
        stop(started)


def fit(
    paths: RecordingLike | Sequence[RecordingLike],
    model: str = "sensorium+",
    out: PathLike | None = None,
    train: TrainConfig | None = None,
    *,
    cache_dir: PathLike | None = None,
    image_size: tuple[int, int] | None = None,
    frames: int | None = None,
    resume: bool = True,
    log: Log | None = print,
    **model_config: Any,
) -> TrainResult:
    """Open recordings (each once), build the model and its loaders, train it.

    Parameters
    ----------
    paths
        Recording folders or zips, or open recordings (one readout per recording), all of
        the model's stimulus kind (static or video).
    model
        Registry name (:func:`neurotwin.models.list_models`).
    out
        Run folder (see :func:`~neurotwin.train.train`); None writes nothing.
    train
        The recipe (:class:`TrainConfig` defaults when None); with ``recipe="auto"`` (the
        default) its fields left at their defaults take the recipe of the model's kind:
        the 2022 kit's for static models, the 2023 kit's for video models (AdamW,
        learning rate 0.005, batches of 8; :meth:`TrainConfig.for_kind`). The run's
        ``config.json`` records the effective values.
    cache_dir
        Where the recordings' caches live.
    image_size
        ``(height, width)`` of the images the model sees (default: a quarter of the
        recording's, 36 x 64 for SENSORIUM; video frames as recorded).
    frames
        Video: frames of the random training windows, overriding ``train.window`` (the
        2023 kit's 80); every training trial must be at least that long. Video models
        early-stop on the ``oracle`` tier's 2023 single-trial correlation.
    resume
        Continue from ``out/checkpoint.pt`` when it exists.
    log
        Called with one line per epoch.
    **model_config
        Fields of the model's config.

    Returns
    -------
    TrainResult
        The trained model (best weights) and its history.

    Raises
    ------
    NeurotwinError
        A recording of another stimulus kind than the model's, or (video) a window longer
        than a training trial or not longer than the model's temporal context, or a
        training or ``oracle`` trial that is all padding; an ``out`` that holds an
        ensemble (:func:`~neurotwin.train.lock.check_run_kind`).
    """
    config = _with_window(train or TrainConfig(), frames)
    if out is not None:
        check_run_folder(out)
        check_run_kind(out, ensemble=False)
    with _process_group(config):
        folders = [Path(out)] if out is not None and resume else []
        _, net, loaders, config = _prepare(
            paths, model, config, cache_dir, image_size, model_config, folders
        )
        return run_training(net, loaders, config, out, resume, log)


def fit_ensemble(
    paths: RecordingLike | Sequence[RecordingLike],
    model: str = "sensorium+",
    out: PathLike = "ensemble",
    n_members: int = 5,
    train: TrainConfig | None = None,
    *,
    resplit: bool = True,
    k_fold: bool = False,
    cache_dir: PathLike | None = None,
    image_size: tuple[int, int] | None = None,
    frames: int | None = None,
    resume: bool = True,
    log: Log | None = print,
    **model_config: Any,
) -> EnsembleResult:
    """Like :func:`fit`, for ``n_members`` members (see :func:`train_ensemble`).

    Parameters
    ----------
    paths
        Recording folders or zips, or open recordings, of the model's stimulus kind.
    model
        Registry name.
    out
        The ensemble's folder.
    n_members
        Number of members.
    train
        The recipe of every member (defaults by the model's kind, see :func:`fit`).
    resplit
        Each member on its own train/validation re-split.
    k_fold
        Member ``i`` validates on fold ``i`` of ``n_members`` (at least 2) disjoint folds of
        each recording's pooled train and validation trials (needs ``resplit``; see
        :func:`train_ensemble`).
    cache_dir
        Where the recordings' caches live.
    image_size
        ``(height, width)`` of the images the models see.
    frames
        Video: frames of the random training windows (see :func:`fit`).
    resume
        Resume (or skip) members from their checkpoints.
    log
        Called with progress lines.
    **model_config
        Fields of the model's config.

    Returns
    -------
    EnsembleResult
        The members and their results.

    Raises
    ------
    NeurotwinError
        For an impossible ensemble (see :func:`~neurotwin.train.ensemble.check_ensemble`)
        or an ``out`` that holds a single run
        (:func:`~neurotwin.train.lock.check_run_kind`), before any recording is opened; for
        bad recordings or settings, as :func:`fit`;
        when a member would resume on another split (see :func:`train_ensemble`).
    """
    check_ensemble(n_members, resplit, k_fold)  # before the recordings are opened
    check_run_folder(out)
    check_run_kind(out, ensemble=True)
    config = _with_window(train or TrainConfig(), frames)
    with _process_group(config):
        folders = [Path(out) / f"member-{i}" for i in range(n_members)] if resume else []
        make_model, first, loaders, config = _prepare(
            paths, model, config, cache_dir, image_size, model_config, folders
        )

        def make(i: int) -> TwinModel:
            return first if i == 0 else make_model()  # member 0 is the model built first

        result = train_ensemble(
            make, loaders, n_members, config, Path(out), resplit, resume, log, k_fold=k_fold
        )
        if DistEnv.from_environ().is_main:
            from neurotwin.models import Ensemble, TwinModule, save_model

            members = [m for m in result.members if isinstance(m, TwinModule)]
            save_model(Ensemble(members), Path(out) / "model.pt")
        return result
