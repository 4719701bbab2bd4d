"""Sub-commands of neural regularisation: ``neuroreg stimuli``, ``target`` and ``train``.

The library is imported when a command runs, so building the parsers needs no torch.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

TASKS = ("shapes", "cifar10")


def register(subparsers: Any) -> None:
    """Add ``neuroreg`` and its sub-commands to the command line.

    Parameters
    ----------
    subparsers
        The top-level sub-parser collection.
    """
    top = subparsers.add_parser(
        "neuroreg",
        help="train classifiers regularised by a twin's similarity target (Li et al. 2019)",
        description="Neural regularisation: make a stimulus set, compute a similarity target "
        "from trained twins (or a control target), and train and evaluate a classifier with "
        "the similarity penalty (docs: Neural regularisation).",
    )
    commands = top.add_subparsers(dest="neuroreg_command", metavar="COMMAND")
    commands.required = True

    p = commands.add_parser("stimuli", help="the simulator's natural images as a stimulus set")
    p.add_argument("--out", required=True, help="file to write (.npy, (N, H, W) uint8)")
    p.add_argument("--n", type=int, default=500, help="number of images (500)")
    p.add_argument("--size", type=int, nargs=2, default=(36, 64), metavar=("HEIGHT", "WIDTH"))
    p.add_argument("--seed", type=int, default=0, help="simulation seed of the images (0)")
    p.set_defaults(func=_stimuli)

    p = commands.add_parser(
        "target",
        help="a similarity target of stimuli, from twins or a control",
        description="Compute a similarity target and cache it with its provenance (model "
        "file hashes, stimulus hash). An existing target file made from other models or "
        "stimuli is refused.",
    )
    p.add_argument("--stimuli", required=True, help="stimulus set (.npy, (N, H, W) uint8)")
    p.add_argument("--out", required=True, help="target file (.npz)")
    p.add_argument(
        "--source", choices=("twin", "pixel"), default="twin",
        help="twin: predicted responses of --model on --recording (default); pixel: the "
        "pixel-similarity control",
    )  # fmt: skip
    p.add_argument("--model", action="append", default=[], help="twin (file, run, or name)")
    p.add_argument(
        "--recording", action="append", default=[], help="the twin's recording (one per --model)"
    )
    p.set_defaults(func=_target)

    p = commands.add_parser(
        "train",
        help="train and evaluate a classifier, with or without a similarity penalty",
        description="Train a small ResNet on a task (cross-entropy, alternating with "
        "similarity-penalty batches when --target is given), then print clean accuracy, "
        "accuracy under noise and median minimal adversarial perturbations as JSON.",
    )
    p.add_argument("--task", choices=TASKS, default="shapes", help="shapes (generated) or cifar10")
    p.add_argument("--cifar", default=None, help="folder with CIFAR-10's binary batches")
    p.add_argument("--size", type=int, nargs=2, default=(36, 64), metavar=("HEIGHT", "WIDTH"))
    p.add_argument("--n-train", type=int, default=4000, help="training images (4000)")
    p.add_argument("--n-test", type=int, default=1000, help="test images (1000)")
    p.add_argument("--target", default=None, help="similarity target (.npz); none: no penalty")
    p.add_argument("--stimuli", default=None, help="the target's stimulus set (.npy)")
    p.add_argument("--shuffle", action="store_true", help="shuffle the target (control)")
    p.add_argument("--alpha", type=float, default=10.0, help="penalty weight (10)")
    p.add_argument("--epochs", type=int, default=6, help="epochs (6)")
    p.add_argument("--seed", type=int, default=0, help="seed (0)")
    p.add_argument("--n-adversarial", type=int, default=100, help="images attacked (100)")
    p.add_argument("--out", default=None, help="also write the JSON result here")
    p.set_defaults(func=_train)


def _stimuli(args: argparse.Namespace) -> int:
    import numpy as np

    from neurotwin.neuroreg.experiment import natural_stimuli

    images = natural_stimuli(args.n, tuple(args.size), args.seed)
    from neurotwin.atomic import atomic_path

    with atomic_path(args.out) as tmp, open(tmp, "wb") as handle:
        np.save(handle, images)
    print(f"wrote {args.out}: {images.shape[0]} images of {images.shape[1]}x{images.shape[2]}")
    return 0


def _load_stimuli(path: str) -> Any:
    import numpy as np

    from neurotwin.neuroreg import NeuroregError
    from neurotwin.neuroreg.target import check_stimuli

    try:
        images = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise NeuroregError(f"{path}: cannot read a stimulus array ({exc})") from exc
    return check_stimuli(images, f"{path}")


def _target(args: argparse.Namespace) -> int:
    from neurotwin.neuroreg import NeuroregError
    from neurotwin.neuroreg.experiment import twin_target
    from neurotwin.neuroreg.target import pixel_target, stimulus_hash
    from neurotwin.neuroreg.target_cache import cached_target

    stimuli = _load_stimuli(args.stimuli)
    if args.source == "pixel":
        if args.model or args.recording:
            raise NeuroregError("--source pixel takes no --model or --recording")
        provenance = {"source": "pixel", "stimuli": stimulus_hash(stimuli), "models": {}}
        target = cached_target(args.out, provenance, lambda: pixel_target(stimuli))
    else:
        if not args.model:
            raise NeuroregError("--source twin needs --model and --recording (one each per twin)")
        target = twin_target(args.model, args.recording, stimuli, args.out)
    n = len(target.matrix)
    off = target.matrix[~_eye(n)]
    print(
        f"{args.out}: {target.provenance['source']} target of {n} images "
        f"(off-diagonal similarity mean {off.mean():.3f}, sd {off.std():.3f})"
    )
    return 0


def _eye(n: int) -> Any:
    import numpy as np

    return np.eye(n, dtype=bool)


def _train(args: argparse.Namespace) -> int:
    from neurotwin.neuroreg import NeuroregError
    from neurotwin.neuroreg.experiment import evaluate, load_matching_target
    from neurotwin.neuroreg.target import shuffled_target
    from neurotwin.neuroreg.tasks import read_cifar10, shapes_dataset
    from neurotwin.neuroreg.train import TrainSettings, train_classifier

    hw = (int(args.size[0]), int(args.size[1]))
    if args.task == "cifar10":
        if args.cifar is None:
            raise NeuroregError("--task cifar10 needs --cifar FOLDER (CIFAR-10's binary batches)")
        images, labels = read_cifar10(args.cifar, "train", hw, limit=args.n_train)
        test_images, test_labels = read_cifar10(args.cifar, "test", hw, limit=args.n_test)
    else:
        images, labels = shapes_dataset(args.n_train, hw, seed=2 * args.seed)
        test_images, test_labels = shapes_dataset(args.n_test, hw, seed=2 * args.seed + 1)
    stimuli = target = None
    if args.target is not None:
        if args.stimuli is None:
            raise NeuroregError("--target needs --stimuli, the stimulus set it was made from")
        stimuli = _load_stimuli(args.stimuli)
        target = load_matching_target(args.target, stimuli).matrix
        if args.shuffle:
            target = shuffled_target(target, args.seed)
    elif args.shuffle:
        raise NeuroregError("--shuffle needs --target")
    settings = TrainSettings(epochs=args.epochs, alpha=args.alpha, seed=args.seed)
    result = train_classifier(
        images, labels, settings, stimuli=stimuli, target=target, n_classes=int(labels.max()) + 1,
        log=lambda line: print(line, flush=True),
    )  # fmt: skip
    summary = evaluate(
        result.model, test_images, test_labels, n_adversarial=args.n_adversarial, seed=args.seed
    )
    summary["layer_weights"] = result.layer_weights
    summary["history"] = result.history
    text = json.dumps(summary, indent=2)
    if args.out is not None:
        from neurotwin.atomic import write_text

        write_text(args.out, text + "\n")
    print(text)
    return 0
