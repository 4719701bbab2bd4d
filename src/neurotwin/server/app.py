"""The web application: ``create_app(competition)`` returns the FastAPI app that uvicorn serves."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from neurotwin.server import api, pages, uploads
from neurotwin.server.config import Competition, CompetitionError
from neurotwin.server.db import make_engine, session_factory
from neurotwin.server.errors import RequestError
from neurotwin.server.security import load_secret

STATIC = Path(__file__).parent / "static"


def create_app(competition: Competition) -> FastAPI:
    """Build the application of a competition (its database must be migrated).

    Parameters
    ----------
    competition
        The competition to serve.

    Returns
    -------
    fastapi.FastAPI
        The JSON API under ``/api/v1``, the pages, and ``/static`` (no CDN: every asset is
        served by the application).

    Raises
    ------
    LockUnavailableError
        On a platform without the file lock that keeps writes to one upload apart.
    """
    uploads.require_lock()
    app = FastAPI(title=competition.title, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.competition = competition
    app.state.engine = make_engine(competition.database_url)
    app.state.sessions = session_factory(app.state.engine)
    app.state.secret = load_secret(competition.folder)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(RequestError)
    def _request_error(request: Request, exc: RequestError) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        return HTMLResponse(pages.error_page(request, exc), status_code=exc.status)

    @app.exception_handler(CompetitionError)
    def _competition_error(request: Request, exc: CompetitionError) -> Response:
        return _request_error(request, RequestError(404, str(exc)))

    @app.exception_handler(RequestValidationError)
    def _validation(request: Request, exc: RequestValidationError) -> Response:
        fields = "; ".join(
            f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return _request_error(request, RequestError(400, f"bad request: {fields}"))

    return app
