"""The HTML pages: home, leaderboards, team history, accounts and the organisers' page.

Home holds log-in, registration and the upload form; further pages verify an e-mail
address, reset a password and give organisers their actions.

Rendered on the server from Jinja2 templates (autoescaped); the style sheet and the small
table-sorting script are served from ``/static``. Every form carries a CSRF token bound to
the browser's ``neurotwin_csrf`` cookie and its log-in session
(:func:`neurotwin.server.security.csrf_token`); a form without a valid one is refused (403).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session

from neurotwin.scoring.tracks import PHASES, get_track
from neurotwin.server import accounts, leaderboard, organiser, uploads
from neurotwin.server.api import (
    COOKIE,
    CompetitionDep,
    SessionDep,
    board,
    limit,
    request_token,
)
from neurotwin.server.config import Competition
from neurotwin.server.errors import RequestError
from neurotwin.server.forms import StreamedForm, read_form
from neurotwin.server.models import Submission, Team, User
from neurotwin.server.security import csrf_token, csrf_valid
from neurotwin.server.views import submission_json

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter()
#: The cookie holding the browser's CSRF nonce.
CSRF_COOKIE = "neurotwin_csrf"


def _user(request: Request, session: Session) -> User | None:
    return accounts.authenticate(session, request_token(request))


def _render(request: Request, name: str, **context: Any) -> HTMLResponse:
    competition: Competition = request.app.state.competition
    nonce = request.cookies.get(CSRF_COOKIE)
    fresh = nonce is None
    if nonce is None:
        nonce = secrets.token_urlsafe(32)
    csrf = csrf_token(request.app.state.secret, nonce, request.cookies.get(COOKIE))
    response = templates.TemplateResponse(
        request, name, {"competition": competition, "phases": PHASES, "csrf": csrf, **context}
    )
    if fresh:
        response.set_cookie(CSRF_COOKIE, nonce, httponly=True, samesite="strict")
    return response


def check_csrf(request: Request, given: str) -> None:
    """Refuse (403) a form whose CSRF token does not match the browser's nonce and session."""
    nonce = request.cookies.get(CSRF_COOKIE)
    if not csrf_valid(request.app.state.secret, nonce, request.cookies.get(COOKIE), given):
        raise RequestError(
            403, "this form expired or came from another site: reload the page and send it again"
        )


def error_page(request: Request, exc: RequestError) -> str:
    """Return the HTML of an error page."""
    template = templates.get_template("error.html")
    return template.render(
        competition=request.app.state.competition, status=exc.status, message=exc.message
    )


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: SessionDep) -> HTMLResponse:
    """Render the home page: phases, tracks, log-in or upload form."""
    user = _user(request, session)
    team = user.team.name if user is not None and user.team is not None else None
    return _render(request, "home.html", user=user, team=team, tracks=_tracks(request))


def _tracks(request: Request) -> list[dict[str, Any]]:
    competition: Competition = request.app.state.competition
    return [
        {"name": n, "description": get_track(n).description, "config": t}
        for n, t in competition.tracks.items()
    ]


def _login_response(token: str) -> Response:
    response = RedirectResponse("/team", status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
    return response


CsrfField = Annotated[str, Form()]


@router.post("/register")
def register_form(
    request: Request,
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    team: Annotated[str, Form()],
    session: SessionDep,
    competition: CompetitionDep,
    join_code: Annotated[str, Form()] = "",
    csrf: CsrfField = "",
) -> Response:
    """Register from the home page's form, send the verification link, and log in."""
    check_csrf(request, csrf)
    limit(request, "register")
    user, token, _code = accounts.register(session, email, password, team, join_code or None)
    accounts.send_verification(session, competition, user, str(request.base_url))
    session.commit()
    return _login_response(token)


@router.post("/login")
def login_form(
    request: Request,
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    session: SessionDep,
    csrf: CsrfField = "",
) -> Response:
    """Log in from the home page's form."""
    check_csrf(request, csrf)
    limit(request, "login", email.strip().lower())
    token = accounts.login(session, email, password)
    session.commit()
    return _login_response(token)


@router.post("/logout")
def logout(request: Request, session: SessionDep, csrf: CsrfField = "") -> Response:
    """Revoke the session's token and forget the cookie."""
    check_csrf(request, csrf)
    accounts.revoke(session, request.cookies.get(COOKIE))
    session.commit()
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/verify", response_class=HTMLResponse)
def verify_page(request: Request, token: str, session: SessionDep) -> HTMLResponse:
    """Verify an e-mail address from the link sent to it."""
    user = accounts.verify_email(session, token)
    session.commit()
    return _render(
        request, "message.html", title="E-mail verified", message=f"{user.email} is verified."
    )


@router.get("/forgot", response_class=HTMLResponse)
def forgot_page(request: Request) -> HTMLResponse:
    """Render the form that asks for a password-reset link."""
    return _render(request, "forgot.html")


@router.post("/forgot", response_class=HTMLResponse)
def forgot_form(
    request: Request,
    email: Annotated[str, Form()],
    session: SessionDep,
    competition: CompetitionDep,
    csrf: CsrfField = "",
) -> HTMLResponse:
    """Send a reset link if the address has an account (the page says the same either way)."""
    check_csrf(request, csrf)
    limit(request, "mail", email.strip().lower())
    accounts.send_reset(session, competition, email, str(request.base_url))
    session.commit()
    return _render(
        request,
        "message.html",
        title="Password reset",
        message="If this address has an account, a reset link is on its way (valid one hour).",
    )


@router.get("/reset", response_class=HTMLResponse)
def reset_page(request: Request, token: str) -> HTMLResponse:
    """Render the form that sets a new password with a reset link's token."""
    return _render(request, "reset.html", token=token)


@router.post("/reset", response_class=HTMLResponse)
def reset_form(
    request: Request,
    token: Annotated[str, Form()],
    password: Annotated[str, Form()],
    session: SessionDep,
    csrf: CsrfField = "",
) -> HTMLResponse:
    """Set the new password; every session and API token of the account is revoked."""
    check_csrf(request, csrf)
    user = accounts.reset_password(session, token, password)
    session.commit()
    return _render(
        request,
        "message.html",
        title="Password changed",
        message=f"The password of {user.email} is changed; log in again.",
    )


def _queue_form_upload(request: Request, form: StreamedForm) -> None:
    """Turn a streamed form's file into an upload, check it and queue it (in a thread)."""
    state = request.app.state
    competition: Competition = state.competition
    assert form.file is not None
    with state.sessions() as session:
        user = _user(request, session)
        if user is None:
            raise RequestError(401, "log in first")
        upload = uploads.start_upload(
            session,
            competition,
            user,
            form.fields.get("track", ""),
            Path(form.file.filename).name,
            form.file.size,
        )
        session.commit()
        os.replace(form.file.path, uploads.part_path(competition, upload))
        try:
            uploads.complete_upload(
                session, competition, user, upload, form.fields.get("description", "")
            )
        except RequestError as exc:
            if exc.status == 422:
                session.commit()
            raise
        session.commit()


def _form_user_email(request: Request) -> str:
    with request.app.state.sessions() as session:
        user = _user(request, session)
        if user is None:
            raise RequestError(401, "log in first")
        return user.email


@router.post("/submit")
async def submit_form(request: Request) -> Response:
    """Upload a submission through the page: streamed to disk in chunks, checked, queued.

    The body is parsed as it arrives (:func:`neurotwin.server.forms.read_form`): the CSRF
    token and the track come first, then the file goes straight into the competition folder.
    """
    competition: Competition = request.app.state.competition
    email = await anyio.to_thread.run_sync(_form_user_email, request)
    await anyio.to_thread.run_sync(limit, request, "upload", email)
    largest = max(t.max_upload_bytes for t in competition.tracks.values())
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > largest + MAX_FORM_OVERHEAD:
        raise RequestError(413, f"the form has {declared} bytes; uploads take up to {largest}")

    def on_file(fields: dict[str, str]) -> int:
        check_csrf(request, fields.get("csrf", ""))
        track = fields.get("track", "")
        if track not in competition.tracks:
            raise RequestError(400, f"track {track!r} is not part of this competition")
        return competition.tracks[track].max_upload_bytes

    form = await read_form(
        request.stream(),
        request.headers.get("content-type", ""),
        competition.uploads_dir / "incoming",
        on_file,
    )
    try:
        if form.file is None:
            check_csrf(request, form.fields.get("csrf", ""))
            raise RequestError(400, "choose a file to upload")
        await anyio.to_thread.run_sync(_queue_form_upload, request, form)
    finally:
        form.discard()
    return RedirectResponse("/team", status_code=303)


#: Bytes a form may hold beyond its file (the other fields and the multipart headers).
MAX_FORM_OVERHEAD = 1 << 20


@router.get("/team", response_class=HTMLResponse)
def team_page(request: Request, session: SessionDep) -> HTMLResponse:
    """Render the team's submissions: status, failure reasons, scores (final hidden)."""
    user = _user(request, session)
    if user is None:
        raise RequestError(401, "log in first")
    subs = session.scalars(
        select(Submission).where(Submission.team_id == user.team_id).order_by(Submission.id.desc())
    )
    rows = [submission_json(session, s) for s in subs]
    team = user.team.name if user.team is not None else ""
    return _render(request, "team.html", user=user, team=team, rows=rows, tracks=_tracks(request))


@router.get("/leaderboard/{track}/{phase}.csv")
def leaderboard_csv(
    track: str,
    phase: str,
    session: SessionDep,
    competition: CompetitionDep,
) -> Response:
    """Return a leaderboard as CSV (empty for a final phase not yet released)."""
    rows, _ = board(session, competition, track, phase)
    return Response(
        leaderboard.to_csv(rows),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{track}-{phase}.csv"'},
    )


@router.get("/leaderboard/{track}/{phase}", response_class=HTMLResponse)
def leaderboard_page(
    track: str,
    phase: str,
    request: Request,
    session: SessionDep,
    competition: CompetitionDep,
) -> HTMLResponse:
    """Render one track and phase's leaderboard, sortable, each score beside its ceiling."""
    rows, shown = board(session, competition, track, phase)
    return _render(
        request,
        "leaderboard.html",
        track=get_track(track),
        phase=phase,
        rows=rows,
        shown=shown,
        mice=sorted({m for r in rows for m in r.per_mouse}),
        classes=sorted({c for r in rows for c in r.per_class}),
    )


def _organiser(request: Request, session: Session) -> User:
    user = _user(request, session)
    if user is None:
        raise RequestError(401, "log in first")
    if not user.is_organiser:
        raise RequestError(403, "only organisers may do that")
    return user


@router.get("/organiser", response_class=HTMLResponse)
def organiser_page(request: Request, session: SessionDep) -> HTMLResponse:
    """Render the organisers' page: release final scores, rescore, disqualify, export."""
    _organiser(request, session)
    competition: Competition = request.app.state.competition
    rows = session.execute(
        select(Submission, Team)
        .join(Team, Team.id == Submission.team_id)
        .order_by(Submission.id.desc())
    ).all()
    released = {t: leaderboard.is_released(session, t) for t in competition.tracks}
    subs = [{**submission_json(session, sub), "team": team.name} for sub, team in rows]
    return _render(request, "organiser.html", released=released, rows=subs)


@router.post("/organiser/release")
def organiser_release(
    request: Request,
    track: Annotated[str, Form()],
    session: SessionDep,
    competition: CompetitionDep,
    undo: Annotated[str, Form()] = "",
    csrf: CsrfField = "",
) -> Response:
    """Release (or hide again) the final-phase scores of one track."""
    check_csrf(request, csrf)
    _organiser(request, session)
    competition.track(track)
    organiser.release(session, track, bool(undo))
    session.commit()
    return RedirectResponse("/organiser", status_code=303)


@router.post("/organiser/rescore")
def organiser_rescore(
    request: Request,
    session: SessionDep,
    track: Annotated[str, Form()] = "",
    csrf: CsrfField = "",
) -> Response:
    """Queue a rescore of every scored submission of a track (all tracks when empty)."""
    check_csrf(request, csrf)
    _organiser(request, session)
    organiser.rescore(session, track or None)
    session.commit()
    return RedirectResponse("/organiser", status_code=303)


@router.post("/organiser/disqualify")
def organiser_disqualify(
    request: Request,
    session: SessionDep,
    submission: Annotated[str, Form()] = "",
    team: Annotated[str, Form()] = "",
    undo: Annotated[str, Form()] = "",
    csrf: CsrfField = "",
) -> Response:
    """Disqualify (or re-admit) one submission (by id) or one team (by name)."""
    check_csrf(request, csrf)
    _organiser(request, session)
    if submission.strip() and not submission.strip().isdigit():
        raise RequestError(400, f"submission {submission!r}: give its number")
    organiser.disqualify(
        session,
        submission_id=int(submission) if submission.strip() else None,
        team=team.strip() or None,
        undo=bool(undo),
    )
    session.commit()
    return RedirectResponse("/organiser", status_code=303)


@router.get("/organiser/export.csv")
def organiser_export(request: Request, session: SessionDep) -> Response:
    """Return every submission with its current scores as CSV."""
    _organiser(request, session)
    return Response(
        organiser.export_csv(session),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="results.csv"'},
    )
