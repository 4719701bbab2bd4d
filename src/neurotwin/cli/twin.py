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
    p.add_argument(
        "--recording",
        required=True,
        nargs="+",
        help="the recording folder or zip; video (2023) tracks: one per mouse, several allowed",
    )
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="trials per forward pass (default: 256 static, 8 video: whole trials, run in "
        "pieces of 128 frames)",
    )
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
        description="Predict every trial of the given tiers with a trained model, in the "
        "standardised response unit. Static recordings: one CSV per tier in the 2022 "
        "submission layout (trial_indices, image_ids, prediction, neuron_ids), "
        "predictions_{tier}.csv (several recordings: one folder each, named after the "
        "recording). Video recordings: one parquet file per tier in the 2023 submission "
        "layout (mouse, trial_indices, prediction: the scored frames 50 to 300 of every "
        "neuron, neuron_ids), predictions_{tier}.parquet.brotli, every recording's trials "
        "in it; `neurotwin score` reads both.",
    )
    _common(p)
    p.add_argument(
        "--tiers",
        nargs="+",
        default=None,
        help="tiers to predict (default: static test final_test; video the test tiers "
        "present: live_test_main final_test_main live_test_bonus final_test_bonus)",
    )
    p.add_argument("--out", required=True, help="folder for the predictions")
    p.set_defaults(func=_predict)

    s = subparsers.add_parser(
        "submit",
        help="write a track's submission files",
        description="Predict the tiers a track scores and write its submission files with "
        "the competition's upload names, which `neurotwin score` (and the competition) "
        "accept: static tracks two CSV files in --out; video tracks one zip of two "
        "parquet files (every mouse of --recording in each), --out itself when it ends in "
        ".zip, else --out/submission_{track}.zip.",
    )
    _common(s)
    s.add_argument("--track", required=True, choices=[t for t in list_tracks()])
    s.add_argument(
        "--out", required=True, help="folder for the files (video tracks: or the zip to write)"
    )
    s.add_argument(
        "--server", help="then upload them to this competition server (needs the server extra)"
    )
    s.add_argument("--token", help="API token for --server (default: $NEUROTWIN_TOKEN)")
    s.set_defaults(func=_submit)

    e = subparsers.add_parser(
        "evaluate",
        help="score a model on a track, every metric beside its ceiling",
        description="Predict the track's tiers and score them against the recordings' "
        "responses (or a ground-truth file), with exact ceilings when the simulator's truth "
        "is beside each recording; video tracks per mouse too, and video-bonus per "
        "out-of-domain class.",
    )
    _common(e)
    e.add_argument("--track", required=True, choices=[t for t in list_tracks()])
    e.add_argument("--truth", default=None, help="a ground-truth file (.npz) to score against")
    e.add_argument(
        "--per-frame",
        action="store_true",
        help="video: normalise the responses per frame, as the official 2023 scorer did "
        "(default: per neuron, the benchmark's)",
    )
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


#: The tiers ``neurotwin predict`` writes by default, by stimulus kind (video: those present).
DEFAULT_TIERS = {
    "static": ("test", "final_test"),
    "video": ("live_test_main", "final_test_main", "live_test_bonus", "final_test_bonus"),
}


def _default_tiers(recording: Any) -> list[str]:
    """Return the tiers ``predict`` writes when none are named (video: the test tiers present)."""
    from neurotwin.errors import NeurotwinError

    if recording.kind != "video":
        return list(DEFAULT_TIERS["static"])
    present = [t for t, n in recording.tier_counts.items() if n]
    tiers = [t for t in DEFAULT_TIERS["video"] if t in present]
    if not tiers:
        raise NeurotwinError(
            f"{recording.location} has no test tier with trials (its tiers: {present}); "
            "name the tiers to predict with --tiers"
        )
    return tiers


def _predict(args: argparse.Namespace) -> int:
    from neurotwin.atomic import write_bytes
    from neurotwin.data import open_recording
    from neurotwin.scoring.predictions import StaticPredictions, VideoPredictions
    from neurotwin.scoring.static_csv import write_static_csv
    from neurotwin.scoring.video_parquet import video_parquet_bytes
    from neurotwin.submit import merge_predictions, predict_tiers

    model = _model(args)
    recordings = [open_recording(r) for r in args.recording]
    out = Path(args.out)
    by_recording = []
    for recording in recordings:
        tiers = args.tiers or _default_tiers(recording)
        by_recording.append(predict_tiers(model, recording, tiers, **_options(args)))
    if model.stimulus_kind == "video":
        for tier in by_recording[0]:
            parts = [p[tier] for p in by_recording]
            merged = merge_predictions([p for p in parts if isinstance(p, VideoPredictions)])
            data = video_parquet_bytes(merged)
            path = write_bytes(out / f"predictions_{tier}.parquet.brotli", data)
            print(f"{tier}: {len(merged.values)} trials of {len(parts)} mice -> {path}")
        return 0
    for recording, by_tier in zip(recordings, by_recording, strict=True):
        folder = out if len(recordings) == 1 else out / recording.name
        for tier, predictions in by_tier.items():
            assert isinstance(predictions, StaticPredictions)
            path = write_static_csv(folder / f"predictions_{tier}.csv", predictions)
            print(f"{tier}: {len(predictions.values)} trials -> {path}")
    return 0


def _submit(args: argparse.Namespace) -> int:
    from neurotwin.submit import make_submission

    track = get_track(args.track)
    dest = make_submission(_model(args), args.recording, track, args.out, **_options(args))
    if track.kind == "video":
        print(f"{dest}:")
    for phase, name in track.submission_files.items():
        print(f"{phase}: {name}" if track.kind == "video" else f"{phase}: {dest / name}")
    if args.server:
        from neurotwin.cli.serve import upload_to_server

        upload_to_server(args.server, args.token, track.identifier, dest, "neurotwin submit")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from neurotwin.submit import evaluate

    report = evaluate(
        _model(args),
        args.recording,
        args.track,
        truth=args.truth,
        per_frame=args.per_frame,
        **_options(args),
    )
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
