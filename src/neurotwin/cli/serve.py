"""``neurotwin serve ...``: run a competition (needs the ``server`` extra).

``init`` creates a competition folder, ``run`` serves the web application, ``worker`` scores
the queue, and the organiser commands (``add-organiser``, ``rescore``, ``disqualify``,
``baseline``, ``release``, ``export``) act on the database directly.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from neurotwin.errors import NeurotwinError


def _needs_server_extra() -> None:
    try:
        import fastapi  # noqa: F401
        import sqlalchemy  # noqa: F401
    except ImportError as exc:
        raise NeurotwinError(
            f"the competition server needs the server extra ({exc.name} is missing): "
            'pip install "neurotwin[server]"'
        ) from exc


def register(subparsers: Any) -> None:
    """Add ``serve`` and its sub-commands to the command line."""
    serve = subparsers.add_parser(
        "serve",
        help="run a competition server",
        description="Run a SENSORIUM-style competition: web application, scoring worker, "
        "organiser actions. See the 'Running a competition' docs page.",
    )
    sub = serve.add_subparsers(dest="serve_command", metavar="ACTION")
    sub.required = True

    def folder_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("folder", help="the competition folder (holds competition.json)")
        p.add_argument(
            "--database", help="database URL (default: $NEUROTWIN_DATABASE_URL, the config's)"
        )

    init = sub.add_parser("init", help="create a competition folder and its database")
    init.add_argument("folder", help="the folder to create")
    init.add_argument(
        "--simulate", action="store_true", help="a demo from tiny simulated mice (static, video)"
    )
    init.add_argument(
        "--track",
        action="append",
        default=[],
        metavar="TRACK=TRUTH",
        help="a track and its ground-truth file (neurotwin make-truth); repeatable",
    )
    init.add_argument("--title", help="the competition's title")
    init.add_argument("--database", help="database URL to record (default: SQLite in the folder)")
    init.add_argument("--submissions-per-day", type=int, default=5, help="per team (default 5)")
    init.add_argument("--max-upload-mb", type=int, default=1024, help="per upload (default 1024)")
    init.add_argument("--seed", type=int, default=0, help="simulation seed (default 0)")
    init.set_defaults(func=_init)

    run = sub.add_parser("run", help="serve the web application (uvicorn)")
    folder_arg(run)
    run.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    run.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    run.set_defaults(func=_run)

    worker = sub.add_parser("worker", help="score queued submissions")
    folder_arg(worker)
    worker.add_argument("--once", action="store_true", help="stop when the queue is empty")
    worker.add_argument("--poll", type=float, default=1.0, help="seconds between polls")
    worker.add_argument("--lease", type=float, default=60.0, help="seconds a claim lasts")
    worker.set_defaults(func=_worker)

    up = sub.add_parser(
        "submit",
        help="upload a submission to a competition server",
        description="Upload a submission (zip, file or folder) in resumable chunks; the "
        "API token comes from --token or $NEUROTWIN_TOKEN.",
    )
    up.add_argument("server", help="the server's URL")
    up.add_argument("submission", help="zip of the track's files, one file, or a folder")
    up.add_argument("--track", required=True)
    up.add_argument("--token", help="API token (default: $NEUROTWIN_TOKEN)")
    up.add_argument("--description", default="", help="shown in your team's history")
    up.set_defaults(func=_submit)

    org = sub.add_parser("add-organiser", help="create an organiser account")
    folder_arg(org)
    org.add_argument("email")
    org.add_argument("--team", default="organisers", help="its team (default organisers)")
    org.set_defaults(func=_add_organiser)

    rescore = sub.add_parser("rescore", help="queue a rescore of every scored submission")
    folder_arg(rescore)
    rescore.add_argument("--track", help="only this track")
    rescore.set_defaults(func=_rescore)

    dq = sub.add_parser("disqualify", help="disqualify a submission or a team")
    folder_arg(dq)
    group = dq.add_mutually_exclusive_group(required=True)
    group.add_argument("--submission", type=int, help="submission id")
    group.add_argument("--team", help="team name")
    dq.add_argument("--undo", action="store_true", help="re-admit instead")
    dq.set_defaults(func=_disqualify)

    base = sub.add_parser("baseline", help="mark a team's rows as a baseline")
    folder_arg(base)
    base.add_argument("--team", required=True)
    base.add_argument("--undo", action="store_true", help="unmark instead")
    base.set_defaults(func=_baseline)

    rel = sub.add_parser("release", help="release a track's final-phase scores")
    folder_arg(rel)
    rel.add_argument("--track", required=True)
    rel.add_argument("--undo", action="store_true", help="hide them again")
    rel.set_defaults(func=_release)

    clean = sub.add_parser(
        "cleanup",
        help="delete abandoned partial uploads",
        description="Delete open uploads that received no byte for abandoned_upload_hours "
        "(competition.json; default 24). The worker also does this while idle.",
    )
    folder_arg(clean)
    clean.set_defaults(func=_cleanup)

    exp = sub.add_parser("export", help="write every submission and score as CSV")
    folder_arg(exp)
    exp.add_argument("--out", required=True, help="the CSV file to write")
    exp.set_defaults(func=_export)


def _competition(args: argparse.Namespace) -> Any:
    _needs_server_extra()
    from neurotwin.server.config import load_competition

    return load_competition(args.folder, args.database)


def _init(args: argparse.Namespace) -> int:
    _needs_server_extra()
    from neurotwin.server.demo import init_competition

    tracks = {}
    for spec in args.track:
        if "=" not in spec:
            raise NeurotwinError(f"--track {spec!r}: use TRACK=TRUTH_FILE")
        name, path = spec.split("=", 1)
        tracks[name] = path
    config = init_competition(
        args.folder,
        simulate=args.simulate,
        tracks=tracks or None,
        title=args.title,
        database_url=args.database,
        seed=args.seed,
        submissions_per_day=args.submissions_per_day,
        max_upload_mb=args.max_upload_mb,
    )
    print(
        f"wrote {config}; start with: neurotwin serve run {args.folder} "
        f"and neurotwin serve worker {args.folder}"
    )
    if args.simulate:
        print(f"example submissions: {Path(args.folder) / 'examples'}")
    return 0


def upload_to_server(
    server: str, token: str | None, track: str, path: str | Path, description: str = ""
) -> None:
    """Upload a submission for ``neurotwin serve submit`` and ``neurotwin submit --server``."""
    _needs_server_extra()
    import os

    from neurotwin.server.client import TOKEN_ENV, upload_submission

    token = token or os.environ.get(TOKEN_ENV)
    if not token:
        raise NeurotwinError(f"give --token or set ${TOKEN_ENV} (your team's API token)")
    sub = upload_submission(server, token, track, path, description=description)
    print(f"submission {sub['id']} {sub['status']}: {sub['filename']} on {sub['track']}")


def _submit(args: argparse.Namespace) -> int:
    upload_to_server(args.server, args.token, args.track, args.submission, args.description)
    return 0


def _run(args: argparse.Namespace) -> int:
    competition = _competition(args)
    import uvicorn

    from neurotwin.server.app import create_app
    from neurotwin.server.db import migrate

    migrate(competition.database_url)
    uvicorn.run(create_app(competition), host=args.host, port=args.port, log_level="info")
    return 0


def _worker(args: argparse.Namespace) -> int:
    competition = _competition(args)
    from neurotwin.server.worker import run_worker

    n = run_worker(competition, once=args.once, poll_s=args.poll, lease_s=args.lease)
    print(f"scored {n} job(s)")
    return 0


def _session(args: argparse.Namespace) -> Any:
    competition = _competition(args)
    from neurotwin.server.db import make_engine, migrate, session_factory

    migrate(competition.database_url)
    return session_factory(make_engine(competition.database_url))()


def _add_organiser(args: argparse.Namespace) -> int:
    from neurotwin.server.accounts import register

    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline()
    with _session(args) as session:
        user, token, _ = register(session, args.email, password.strip(), args.team, organiser=True)
        user.email_verified = True  # the organiser runs the server
        session.commit()
    print(f"organiser {args.email} created; API token (shown once): {token}")
    return 0


def _rescore(args: argparse.Namespace) -> int:
    from neurotwin.server.organiser import rescore

    with _session(args) as session:
        n = rescore(session, args.track)
        session.commit()
    print(f"queued {n} rescore job(s); the current scores stay until the new ones exist")
    return 0


def _disqualify(args: argparse.Namespace) -> int:
    from neurotwin.server.organiser import disqualify

    with _session(args) as session:
        what = disqualify(session, submission_id=args.submission, team=args.team, undo=args.undo)
        session.commit()
    print(what)
    return 0


def _baseline(args: argparse.Namespace) -> int:
    from neurotwin.server.organiser import mark_baseline

    with _session(args) as session:
        mark_baseline(session, args.team, args.undo)
        session.commit()
    print(f"team {args.team} {'is no longer' if args.undo else 'is now'} marked as a baseline")
    return 0


def _release(args: argparse.Namespace) -> int:
    from neurotwin.server.organiser import release

    with _session(args) as session:
        release(session, args.track, args.undo)
        session.commit()
    print(f"final scores of {args.track} {'hidden' if args.undo else 'released'}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from neurotwin.server.organiser import export_csv

    with _session(args) as session:
        text = export_csv(session)
    out = Path(args.out)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(out)
    print(f"wrote {out}")
    return 0


def _cleanup(args: argparse.Namespace) -> int:
    from neurotwin.server.db import utcnow
    from neurotwin.server.uploads import cleanup_abandoned

    competition = _competition(args)
    with _session(args) as session:
        n = cleanup_abandoned(session, competition, utcnow())
        session.commit()
    hours = competition.settings.abandoned_upload_hours
    print(f"deleted {n} upload(s) abandoned for more than {hours:g} hours")
    return 0
