"""The JSON API (``/api/v1``): accounts, resumable uploads, submissions, leaderboards, organiser.

Authentication: ``Authorization: Bearer TOKEN`` (or the web page's cookie). Uploads, in
three steps, stream straight to disk::

    POST /api/v1/uploads                 {"track", "filename", "size"} -> {"key", "offset"}
    PUT  /api/v1/uploads/{key}           body = bytes from header Upload-Offset -> {"offset"}
    GET  /api/v1/uploads/{key}           -> {"offset"}: where an interrupted upload resumes
    POST /api/v1/uploads/{key}/complete  -> the submission (201), or 422 with the problems
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import anyio
import anyio.from_thread
import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from neurotwin.scoring.tracks import PHASES, get_track
from neurotwin.server import accounts, leaderboard, organiser, ratelimit, uploads
from neurotwin.server.config import Competition
from neurotwin.server.errors import RequestError
from neurotwin.server.models import Submission, Upload, User
from neurotwin.server.views import submission_json

COOKIE = "neurotwin_token"
router = APIRouter(prefix="/api/v1")


def get_session(request: Request) -> Iterator[Session]:
    """Yield a database session for one request (rolled back unless committed)."""
    with request.app.state.sessions() as session:
        yield session


def get_competition(request: Request) -> Competition:
    """Return the competition the application serves."""
    competition: Competition = request.app.state.competition
    return competition


def request_token(request: Request) -> str | None:
    """Return the bearer token of a request, or its cookie."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE)


def client_ip(request: Request) -> str:
    """Return the client's IP address (the proxy's, unless uvicorn trusts its headers)."""
    return request.client.host if request.client is not None else "unknown"


def limit(request: Request, action: str, account: str | None = None) -> None:
    """Count one attempt of ``action`` by the client's IP address and account; 429 past it."""
    ratelimit.hit(
        request.app.state.sessions,
        request.app.state.competition,
        action,
        {"IP address": client_ip(request), "account": account},
    )


SessionDep = Annotated[Session, Depends(get_session)]
CompetitionDep = Annotated[Competition, Depends(get_competition)]


def current_user(request: Request, session: SessionDep) -> User:
    """Return the authenticated user; 401 without a valid token."""
    user = accounts.authenticate(session, request_token(request))
    if user is None:
        raise RequestError(401, "log in first: send 'Authorization: Bearer TOKEN'")
    return user


UserDep = Annotated[User, Depends(current_user)]


def organiser_user(user: UserDep) -> User:
    """Return the user if an organiser; 403 otherwise."""
    if not user.is_organiser:
        raise RequestError(403, "only organisers may do that")
    return user


OrganiserDep = Annotated[User, Depends(organiser_user)]


class Registration(BaseModel):
    """A new account: e-mail, password, and the team to found or join (with its code)."""

    email: str
    password: str
    team: str
    join_code: str | None = None


class Login(BaseModel):
    """An e-mail and password."""

    email: str
    password: str


class NewUpload(BaseModel):
    """An upload to start: its track, file name and total size in bytes."""

    track: str
    filename: str
    size: int


class Completion(BaseModel):
    """An optional description of the submission."""

    description: str = ""


@router.post("/register", status_code=201)
def register(
    body: Registration, request: Request, session: SessionDep, competition: CompetitionDep
) -> dict[str, Any]:
    """Create an account; return its token (and the join code of a new team).

    A verification link is sent to the e-mail address (see :mod:`neurotwin.server.mail`).
    """
    limit(request, "register")
    user, token, code = accounts.register(
        session, body.email, body.password, body.team, body.join_code
    )
    accounts.send_verification(session, competition, user, str(request.base_url))
    session.commit()
    return {"token": token, "team": body.team.strip(), "join_code": code, "user": user.email}


@router.post("/login")
def login(body: Login, request: Request, session: SessionDep) -> dict[str, Any]:
    """Return a new token for an e-mail and password."""
    limit(request, "login", body.email.strip().lower())
    token = accounts.login(session, body.email, body.password)
    session.commit()
    return {"token": token}


class EmailToken(BaseModel):
    """A token from a verification message."""

    token: str


class ForgotPassword(BaseModel):
    """The e-mail address of the account whose password to reset."""

    email: str


class ResetPassword(BaseModel):
    """A token from a reset message and the new password."""

    token: str
    password: str


@router.post("/verify")
def verify(body: EmailToken, session: SessionDep) -> dict[str, Any]:
    """Verify an account's e-mail address with the token sent to it."""
    user = accounts.verify_email(session, body.token)
    session.commit()
    return {"user": user.email, "email_verified": True}


@router.post("/verify/resend")
def resend_verification(
    request: Request, session: SessionDep, user: UserDep, competition: CompetitionDep
) -> dict[str, Any]:
    """Send the caller a new verification link."""
    limit(request, "mail", user.email)
    if user.email_verified:
        raise RequestError(409, f"{user.email} is verified already")
    accounts.send_verification(session, competition, user, str(request.base_url))
    session.commit()
    return {"sent": True}


@router.post("/password/forgot")
def forgot_password(
    body: ForgotPassword, request: Request, session: SessionDep, competition: CompetitionDep
) -> dict[str, Any]:
    """Send a password-reset link; the answer is the same whether the account exists."""
    limit(request, "mail", body.email.strip().lower())
    accounts.send_reset(session, competition, body.email, str(request.base_url))
    session.commit()
    return {"sent": True}


@router.post("/password/reset")
def reset_password(body: ResetPassword, session: SessionDep) -> dict[str, Any]:
    """Set a new password with a reset token; every API token of the account is revoked."""
    user = accounts.reset_password(session, body.token, body.password)
    session.commit()
    return {"user": user.email}


@router.get("/competition")
def competition_info(competition: CompetitionDep) -> dict[str, Any]:
    """Describe the competition: tracks (with their limits) and phases. No truth is shown."""
    return {
        "title": competition.title,
        "phases": {
            p.name: {"start": p.start.isoformat() + "Z", "end": p.end.isoformat() + "Z"}
            for p in competition.phases.values()
        },
        "tracks": {
            name: {
                **get_track(name).to_dict(),
                "submissions_per_day": t.submissions_per_day,
                "max_upload_bytes": t.max_upload_bytes,
            }
            for name, t in competition.tracks.items()
        },
    }


@router.post("/uploads", status_code=201)
def start_upload(
    body: NewUpload,
    request: Request,
    session: SessionDep,
    user: UserDep,
    competition: CompetitionDep,
) -> dict[str, Any]:
    """Start an upload; return its key and the offset to send from (0)."""
    limit(request, "upload", user.email)
    upload = uploads.start_upload(session, competition, user, body.track, body.filename, body.size)
    session.commit()
    return {"key": upload.key, "offset": 0, "size": upload.size}


@router.get("/uploads/{key}")
def upload_status(
    key: str,
    session: SessionDep,
    user: UserDep,
    competition: CompetitionDep,
) -> dict[str, Any]:
    """Return how many bytes of an upload arrived: the offset to resume from."""
    upload = uploads.find_upload(session, user, key)
    part = uploads.part_path(competition, upload)
    offset = part.stat().st_size if part.exists() else upload.received
    return {"key": key, "offset": offset, "size": upload.size, "state": upload.state}


def _lookup(app_state: Any, token: str | None, key: str) -> Upload:
    with app_state.sessions() as session:
        user = accounts.authenticate(session, token)
        if user is None:
            raise RequestError(401, "log in first: send 'Authorization: Bearer TOKEN'")
        return uploads.find_upload(session, user, key)


@router.put("/uploads/{key}")
async def put_chunk(key: str, request: Request) -> dict[str, Any]:
    """Append the request body to an upload at header ``Upload-Offset``, streamed to disk."""
    state = request.app.state
    upload = await anyio.to_thread.run_sync(_lookup, state, request_token(request), key)
    try:
        offset = int(request.headers.get("upload-offset", "0"))
    except ValueError as exc:
        raise RequestError(400, "Upload-Offset must be a whole number of bytes") from exc
    stream = request.stream().__aiter__()

    async def next_chunk() -> bytes | None:
        try:
            return await stream.__anext__()
        except StopAsyncIteration:
            return None

    def chunks() -> Iterator[bytes]:
        while (chunk := anyio.from_thread.run(next_chunk)) is not None:
            yield chunk

    size = await anyio.to_thread.run_sync(
        uploads.write_chunks, state.competition, upload, offset, chunks()
    )
    return {"key": key, "offset": size, "size": upload.size}


@router.post("/uploads/{key}/complete", status_code=201)
def complete(
    key: str,
    session: SessionDep,
    user: UserDep,
    competition: CompetitionDep,
    body: Completion | None = None,
) -> dict[str, Any]:
    """Check a fully received upload and queue it; 422 lists the problems found."""
    upload = uploads.find_upload(session, user, key)
    try:
        sub = uploads.complete_upload(
            session, competition, user, upload, body.description if body else ""
        )
    except RequestError as exc:
        if exc.status == 422:
            session.commit()  # the upload is recorded as rejected
        raise
    session.commit()
    return submission_json(session, sub)


@router.get("/submissions")
def my_submissions(session: SessionDep, user: UserDep) -> list[dict[str, Any]]:
    """Return the caller's team's submissions, newest first."""
    subs = session.scalars(
        select(Submission).where(Submission.team_id == user.team_id).order_by(Submission.id.desc())
    )
    return [submission_json(session, s) for s in subs]


def own_submission(session: Session, user: User, submission_id: int) -> Submission:
    """Return a submission of the caller's team (any for an organiser); 404 otherwise."""
    sub = session.get(Submission, submission_id)
    if sub is None or (sub.team_id != user.team_id and not user.is_organiser):
        raise RequestError(404, f"no submission {submission_id}")
    return sub


@router.get("/submissions/{submission_id}")
def one_submission(
    submission_id: int,
    session: SessionDep,
    user: UserDep,
) -> dict[str, Any]:
    """Return one submission of the caller's team: status, failure reason, scores."""
    return submission_json(session, own_submission(session, user, submission_id))


@router.post("/submissions/{submission_id}/choose")
def choose(
    submission_id: int,
    session: SessionDep,
    user: UserDep,
) -> dict[str, Any]:
    """Choose the submission that enters the team's final ranking on its track."""
    sub = own_submission(session, user, submission_id)
    for other in session.scalars(
        select(Submission).where(Submission.team_id == sub.team_id, Submission.track == sub.track)
    ):
        other.chosen = other.id == sub.id
    session.commit()
    return submission_json(session, sub)


def board(
    session: Session, competition: Competition, track: str, phase: str
) -> tuple[list[leaderboard.Row], bool]:
    """Return a leaderboard's rows and whether they are shown (final: once released)."""
    competition.track(track)
    if phase not in PHASES:
        raise RequestError(404, f"no phase {phase!r}; phases: {', '.join(PHASES)}")
    shown = phase == "live" or leaderboard.is_released(session, track)
    if not shown:
        return [], False
    return leaderboard.ranking(session, track, phase, get_track(track).ranking_metric), True


@router.get("/leaderboard/{track}/{phase}")
def leaderboard_json(
    track: str,
    phase: str,
    session: SessionDep,
    competition: CompetitionDep,
) -> dict[str, Any]:
    """Return a leaderboard as JSON; final-phase rows stay empty until released."""
    rows, shown = board(session, competition, track, phase)
    return {"track": track, "phase": phase, "released": shown, "rows": leaderboard.to_json(rows)}


class Rescore(BaseModel):
    """Which track to rescore (all when absent)."""

    track: str | None = None


class Disqualify(BaseModel):
    """One submission or one team; ``undo`` re-admits."""

    submission: int | None = None
    team: str | None = None
    undo: bool = False


class ReleaseBody(BaseModel):
    """The track whose final scores to release (``undo`` hides them again)."""

    track: str
    undo: bool = False


@router.post("/admin/rescore")
def admin_rescore(
    body: Rescore,
    session: SessionDep,
    _: OrganiserDep,
) -> dict[str, Any]:
    """Queue a rescore of every scored submission (old scores stay until new ones exist)."""
    n = organiser.rescore(session, body.track)
    session.commit()
    return {"queued": n}


@router.post("/admin/disqualify")
def admin_disqualify(
    body: Disqualify,
    session: SessionDep,
    _: OrganiserDep,
) -> dict[str, Any]:
    """Disqualify (or re-admit) a submission or a team."""
    what = organiser.disqualify(
        session, submission_id=body.submission, team=body.team, undo=body.undo
    )
    session.commit()
    return {"done": what}


@router.post("/admin/release")
def admin_release(
    body: ReleaseBody,
    session: SessionDep,
    competition: CompetitionDep,
    _: OrganiserDep,
) -> dict[str, Any]:
    """Release (or hide) a track's final-phase scores."""
    competition.track(body.track)
    organiser.release(session, body.track, body.undo)
    session.commit()
    return {"track": body.track, "released": not body.undo}


@router.get("/admin/export", response_class=PlainTextResponse)
def admin_export(session: SessionDep, _: OrganiserDep) -> PlainTextResponse:
    """Return every submission with its current scores, as CSV."""
    return PlainTextResponse(organiser.export_csv(session), media_type="text/csv")
