"""Sub-commands that use a trained twin: ``predict``, ``submit`` and ``evaluate``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from neurotwin.scoring.tracks import get_track, list_tracks

_MODEL_HELP = (
    "a saved model (model.pt), a run folder holding one, or the name of a pretrained model "
    "(see `neurotwin models`)"
)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help=_MODEL_HELP)
    p.add_argument("--recording", required=True, help="the recording folder or zip")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--cache-dir", default=None, help="where recording caches live")


def register(subparsers: Any) -> None:
    """Add the model-using sub-commands to the command line."""
    m = subparsers.add_parser(
        "models",
        help="list the registered models and the pretrained weights",
        description="List every registered model (what `neurotwin train --model` takes) and "
        "the pretrained models shipped with the package, with what they scored.",
    )
    m.add_argument("--json", action="store_true", help="print JSON")
    m.set_defaults(func=_models)

    p = subparsers.add_parser(
        "predict",
        help="predict the responses of a recording's tiers",
        description="Predict every trial of the given tiers with a trained model and write "
        "one CSV per tier in the 2022 submission layout (trial_indices, image_ids, "
        "prediction, neuron_ids), in the standardised response unit.",
    )
    _common(p)
    p.add_argument("--tiers", nargs="+", default=["test", "final_test"])
    p.add_argument("--out", required=True, help="folder for predictions_{tier}.csv")
    p.set_defaults(func=_predict)

    s = subparsers.add_parser(
        "submit",
        help="write a track's submission files",
        description="Predict the tiers a track scores and write its submission files, which "
        "`neurotwin score` (and the competition) accept.",
    )
    _common(s)
    s.add_argument("--track", required=True, choices=[t for t in list_tracks()])
    s.add_argument("--out", required=True, help="folder for the two CSV files")
    s.add_argument(
        "--server", help="then upload them to this competition server (needs the server extra)"
    )
    s.add_argument("--token", help="API token for --server (default: $NEUROTWIN_TOKEN)")
    s.set_defaults(func=_submit)

    e = subparsers.add_parser(
        "evaluate",
        help="score a model on a track, every metric beside its ceiling",
        description="Predict the track's tiers and score them against the recording's "
        "responses (or a ground-truth file), with exact ceilings when the simulator's truth "
        "is beside the recording.",
    )
    _common(e)
    e.add_argument("--track", required=True, choices=[t for t in list_tracks()])
    e.add_argument("--truth", default=None, help="a ground-truth file (.npz) to score against")
    e.add_argument("--json", action="store_true", help="print JSON instead of a table")
    e.set_defaults(func=_evaluate)


def _model(args: argparse.Namespace) -> Any:
    from neurotwin.models import resolve_model

    return resolve_model(args.model)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    from neurotwin.train import resolve_device

    return {
        "batch_size": args.batch_size,
        "device": str(resolve_device(args.device)),
        "cache_dir": args.cache_dir,
        "progress": True,
    }


def _predict(args: argparse.Namespace) -> int:
    from neurotwin.scoring.static_csv import write_static_csv
    from neurotwin.submit import predict_tiers

    model = _model(args)
    by_tier = predict_tiers(model, args.recording, args.tiers, **_options(args))
    for tier, predictions in by_tier.items():
        path = write_static_csv(Path(args.out) / f"predictions_{tier}.csv", predictions)
        print(f"{tier}: {len(predictions.values)} trials -> {path}")
    return 0


def _submit(args: argparse.Namespace) -> int:
    from neurotwin.submit import make_submission

    track = get_track(args.track)
    dest = make_submission(_model(args), args.recording, track, args.out, **_options(args))
    for phase, name in track.submission_files.items():
        print(f"{phase}: {dest / name}")
    if args.server:
        from neurotwin.cli.serve import upload_to_server

        upload_to_server(args.server, args.token, track.identifier, dest, "neurotwin submit")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from neurotwin.submit import evaluate

    report = evaluate(_model(args), args.recording, args.track, truth=args.truth, **_options(args))
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.table())
    return 0


def _models(args: argparse.Namespace) -> int:
    from neurotwin.models import describe_models, list_pretrained, pretrained_record

    pretrained = {name: pretrained_record(name) for name in list_pretrained()}
    if args.json:
        print(json.dumps({"models": describe_models(), "pretrained": pretrained}, indent=2))
        return 0
    print("models (neurotwin train --model NAME):")
    for name, text in describe_models().items():
        print(f"  {name:<22} {text}")
    print("pretrained (--model NAME in predict, submit, evaluate):")
    for name, record in pretrained.items():
        live = record["scores"]["live"]["single_trial_correlation"]
        print(
            f"  {name:<22} {record['model']} on the {record['data']['preset']} mouse: test "
            f"single-trial correlation {live['value']:.3f} ({live['normalized']:.0%} of ceiling)"
        )
    if not pretrained:
        print("  (none shipped)")
    return 0
