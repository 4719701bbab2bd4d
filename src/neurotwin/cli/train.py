"""Sub-command that trains a model: ``neurotwin train``."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from neurotwin.errors import NeurotwinError


def register(subparsers: Any) -> None:
    """Add the ``train`` sub-command to the command line."""
    p = subparsers.add_parser(
        "train",
        help="train a model on static or video recordings",
        description="Train a model (by default the recipe of the model's kind: for static "
        "models the 2022 kit's, Adam at learning rate 0.009 on batches of 128; for video "
        "models the 2023 kit's, AdamW at 0.005 on batches of 8 windows of 80 frames; both "
        "with the learning rate "
        "decayed on plateau and early stopping on the validation correlation; the flags "
        "given replace those values and the run's config.json records the effective ones; "
        "AdamW, a cosine "
        "schedule with warm-up and an average of the weights on request) on one or more "
        "static or video recordings (video models take random windows of --frames frames and "
        "early-stop on the oracle tier's 2023 single-trial correlation). The run folder holds "
        "config.json, metrics.jsonl, checkpoint.pt "
        "(resumed when the command is run again) and model.pt (best weights; also written "
        "when interrupted with Ctrl-C). The run folder is locked while training: a second "
        "command on it is refused, naming the process that holds it. Runs under "
        "torchrun for distributed data parallel training.",
    )
    p.add_argument(
        "paths", nargs="+", help="recording folders or zips, of the model's kind (static or video)"
    )
    p.add_argument("--model", default="sensorium+", help="model name (default: sensorium+)")
    p.add_argument("--out", required=True, help="run folder")
    _add_recipe_flags(p)
    p.add_argument(
        "--compile",
        nargs="?",
        const="on",
        choices=["on", "auto"],
        default=None,
        help="use torch.compile; 'auto': only when it pays within --time-limit",
    )
    p.add_argument(
        "--time-limit",
        type=duration,
        default=None,
        metavar="TIME",
        help="wall-clock budget of the training (seconds, or with a unit: 90s, 10m, 1.5h): "
        "stop after the last epoch that fits, keeping the best weights; no epoch is exempt: "
        "a limit shorter than one epoch trains none and keeps the untrained weights",
    )
    p.add_argument("--no-resume", action="store_true", help="start over, ignoring a checkpoint")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model config field (VALUE read as JSON when it parses, else as text); repeatable",
    )
    p.add_argument(
        "--ensemble",
        type=int,
        default=None,
        metavar="N",
        help="train N members on different train/validation re-splits (out/member-i/) and "
        "write their average as out/model.pt; resuming on another split is refused",
    )
    p.add_argument(
        "--k-fold",
        action="store_true",
        help="with --ensemble N: member i validates on fold i of N disjoint folds of the "
        "pooled train and validation trials",
    )
    p.add_argument("--cache-dir", default=None, help="cache folder (default: user cache)")
    p.set_defaults(func=_train)


#: Recipe fields with a flag of their own (a duration, a tri-state, aliases).
_CUSTOM_FLAGS = ("max_epochs", "compile", "time_limit", "window")


def _add_recipe_flags(parser: argparse.ArgumentParser) -> None:
    """Add one flag per field of :class:`~neurotwin.train.TrainConfig`, documented from it."""
    from neurotwin.config import add_config_flags, field_docs
    from neurotwin.train.config import (  # imports no torch
        ADAMW_WEIGHT_DECAY,
        VIDEO_RECIPE,
        TrainConfig,
    )

    video = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in VIDEO_RECIPE.items())
    group = parser.add_argument_group(
        "training recipe (TrainConfig; saved in config.json, checked on resume)",
        "The defaults shown are the 2022 kit's, those of static models; a video model takes "
        f"the 2023 kit's for every flag not given: {video} --weight-decay "
        f"{ADAMW_WEIGHT_DECAY} (--recipe given: the defaults shown, whatever the model).",
    )
    first = field_docs(TrainConfig)["max_epochs"].split(" (")[0]
    group.add_argument(
        "--max-epochs",
        "--epochs",
        dest="max_epochs",
        type=int,
        default=None,
        help=f"{first}; --epochs is an alias (default: {TrainConfig().max_epochs})",
    )
    window = field_docs(TrainConfig)["window"].split(" (")[0]
    group.add_argument(
        "--frames",
        "--window",
        dest="window",
        type=int,
        default=None,
        help=f"{window}; --window is an alias (default: {TrainConfig().window})",
    )
    recipe = add_config_flags(group, TrainConfig, exclude=_CUSTOM_FLAGS)
    parser.set_defaults(recipe_flags=["max_epochs", "window", *recipe])


def duration(text: str) -> float:
    """Parse a duration: seconds (``"600"``) or with a unit (``"90s"``, ``"10m"``, ``"1h"``).

    Parameters
    ----------
    text
        The command-line value.

    Returns
    -------
    float
        Seconds, positive.

    Raises
    ------
    argparse.ArgumentTypeError
        For anything else (argparse prints it as a one-line usage error).
    """
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    value = text.strip().lower()
    factor = units.get(value[-1:], None)
    number = value[:-1] if factor is not None else value
    try:
        seconds = float(number) * (factor or 1.0)
    except ValueError:
        seconds = math.nan
    if not seconds > 0 or math.isinf(seconds):
        raise argparse.ArgumentTypeError(
            f"expected a positive duration such as 600, 90s, 10m or 1.5h, got {text!r}"
        )
    return seconds


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Turn ``KEY=VALUE`` strings into a dict, values parsed as JSON when possible.

    Parameters
    ----------
    items
        The ``--set`` arguments.

    Returns
    -------
    dict
        ``{key: value}``.
    """
    values: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise NeurotwinError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            values[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            values[key.strip()] = text
    return values


def train_config(args: argparse.Namespace) -> Any:
    """Return the :class:`~neurotwin.train.TrainConfig` that ``neurotwin train`` trains with.

    The flags not given take the recipe of the model's kind; the flags given are kept, even
    one equal to a default (``TrainConfig.for_kind`` cannot tell those apart), and with a
    named ``--recipe`` they go to :func:`neurotwin.train.optim.recipe` itself, so that
    ``--recipe dwise --batch-size 128`` scales the rate to the batch.
    """
    from neurotwin.config import flag_overrides
    from neurotwin.train import TrainConfig
    from neurotwin.train.fitting import model_kind
    from neurotwin.train.optim import recipe

    changes = flag_overrides(args, args.recipe_flags)
    if args.time_limit is not None:
        changes["time_limit"] = args.time_limit
    changes["compile"] = {None: False, "on": True, "auto": "auto"}[args.compile]
    kept = {k: v for k, v in changes.items() if k != "recipe"}
    if changes.get("recipe", "auto") in ("auto", "given"):
        return TrainConfig().replace(**changes).for_kind(model_kind(args.model)).replace(**kept)
    return recipe(changes["recipe"], **kept)


def _train(args: argparse.Namespace) -> int:
    from neurotwin.train.lock import check_run_folder, check_run_kind

    if args.k_fold and args.ensemble is None:  # N itself is checked by fit_ensemble
        raise NeurotwinError(
            "--k-fold needs --ensemble N with N >= 2 (the number of folds and members)"
        )
    check_run_folder(args.out)  # before the slow imports and caches
    check_run_kind(args.out, ensemble=args.ensemble is not None)
    from neurotwin.train import fit, fit_ensemble

    config = train_config(args)
    model_config = parse_overrides(args.set)
    common: dict[str, Any] = {"cache_dir": args.cache_dir, "resume": not args.no_resume}
    if args.ensemble is not None:
        result = fit_ensemble(
            args.paths,
            args.model,
            args.out,
            args.ensemble,
            config,
            k_fold=args.k_fold,
            **common,
            **model_config,
        )
        scores = ", ".join(f"{r.best_correlation:.4f}" for r in result.results)
        print(f"{args.out}: {len(result.members)} members, validation correlations {scores}")
        return 0
    single = fit(args.paths, args.model, args.out, config, **common, **model_config)
    print(
        f"{args.out}: best validation correlation {single.best_correlation:.4f} at epoch "
        f"{single.best_epoch} ({single.stop_reason})"
    )
    return 0
