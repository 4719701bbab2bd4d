"""The HTML pages: home (log-in, registration, upload), leaderboards, the team's history.

Rendered on the server from Jinja2 templates (autoescaped); the style sheet and the small
table-sorting script are served from ``/static``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session

from neurotwin.scoring.tracks import PHASES, get_track
from neurotwin.server import accounts, leaderboard, uploads
from neurotwin.server.api import COOKIE, CompetitionDep, SessionDep, board, request_token
from neurotwin.server.config import Competition
from neurotwin.server.errors import RequestError
from neurotwin.server.models import Submission, User
from neurotwin.server.views import submission_json

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter()


def _user(request: Request, session: Session) -> User | None:
    return accounts.authenticate(session, request_token(request))


def _render(request: Request, name: str, **context: Any) -> HTMLResponse:
    competition: Competition = request.app.state.competition
    return templates.TemplateResponse(
        request, name, {"competition": competition, "phases": PHASES, **context}
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


@router.post("/register")
def register_form(
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    team: Annotated[str, Form()],
    session: SessionDep,
    join_code: Annotated[str, Form()] = "",
) -> Response:
    """Register from the home page's form and log in."""
    _, token, _code = accounts.register(session, email, password, team, join_code or None)
    session.commit()
    return _login_response(token)


@router.post("/login")
def login_form(
    email: Annotated[str, Form()], password: Annotated[str, Form()], session: SessionDep
) -> Response:
    """Log in from the home page's form."""
    token = accounts.login(session, email, password)
    session.commit()
    return _login_response(token)


@router.post("/logout")
def logout(request: Request, session: SessionDep) -> Response:
    """Revoke the session's token and forget the cookie."""
    accounts.revoke(session, request.cookies.get(COOKIE))
    session.commit()
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.post("/submit")
def submit_form(
    request: Request,
    track: Annotated[str, Form()],
    file: Annotated[UploadFile, File()],
    session: SessionDep,
    competition: CompetitionDep,
    description: Annotated[str, Form()] = "",
) -> Response:
    """Upload a submission through the page: copied to disk in chunks, checked, queued."""
    user = _user(request, session)
    if user is None:
        raise RequestError(401, "log in first")
    file.file.seek(0, 2)
    size = file.file.tell()
    file.file.seek(0)
    upload = uploads.start_upload(
        session, competition, user, track, Path(file.filename or "").name, size
    )
    session.commit()
    with open(uploads.part_path(competition, upload), "wb") as out:
        shutil.copyfileobj(file.file, out, 1 << 20)
    try:
        uploads.complete_upload(session, competition, user, upload, description)
    except RequestError as exc:
        if exc.status == 422:
            session.commit()
        raise
    session.commit()
    return RedirectResponse("/team", status_code=303)


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
