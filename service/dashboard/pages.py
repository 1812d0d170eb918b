"""What every dashboard page router shares: the templates, signing in by cookie (`Who`, and `Poster` for
forms that change state, CSRF-checked), and rendering a page with the dashboard's security headers."""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Form, Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates

from deepfeat.errors import Forbidden
from deepfeat.services.datasets import DatasetService
from deepfeat.services.runs import RunService
from deepfeat.services.signals import dashboard_secret
from deepfeat.services.sweeps import SweepService
from deepfeat.specs.runs import TERMINAL_STATUSES, RunStatus
from service.dashboard import views
from service.dashboard.session import Sessions, Viewer
from service.deps import DbSession, State

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters.update(
    duration=views.fmt_duration, value=views.fmt_value, time=views.fmt_time, bytes=views.fmt_bytes
)
templates.env.globals.update(STATUSES=RunStatus.__args__, TERMINAL=TERMINAL_STATUSES)  # type: ignore[attr-defined]


class SignInRequired(Exception):
    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def cookie_sessions(request: Request, state: State) -> Sessions:
    sessions: Sessions | None = getattr(request.app.state, "dashboard_sessions", None)
    if sessions is None:
        with state.sessions() as session:  # the secret every API process signs with, kept in the database
            secret = dashboard_secret(session)
            session.commit()
        sessions = request.app.state.dashboard_sessions = Sessions(secret)
    return sessions


Cookies = Annotated[Sessions, Depends(cookie_sessions)]


def viewer(request: Request, state: State, cookies: Cookies) -> Viewer:
    # A short session of its own: the SSE route must not hold a request session across its stream.
    with state.sessions() as session:
        seen = cookies.viewer(request, session)
    if seen is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    state.limiter.check(seen.principal.key_id)
    return seen


Who = Annotated[Viewer, Depends(viewer)]


def checked(who: Who, csrf: Annotated[str, Form()] = "") -> Viewer:
    """The viewer of a state-changing form, refused unless it carries this session's CSRF token."""
    if not hmac.compare_digest(who.csrf, csrf):
        raise Forbidden("missing or wrong CSRF token; reload the page and try again")
    return who


Poster = Annotated[Viewer, Depends(checked)]


# The services a page uses, for the signed-in viewer's project (as `service.deps` builds them for a key);
# async for the same reason: building one is pure, a sync dependency would cost a thread-pool hop.
async def viewer_run_service(session: DbSession, who: Who, state: State) -> RunService:
    return RunService(session, who.project_id, state.settings, state.store)


async def viewer_dataset_service(session: DbSession, who: Who, state: State) -> DatasetService:
    return DatasetService(session, who.project_id, state.store, state.settings)


async def viewer_sweep_service(session: DbSession, who: Who, state: State) -> SweepService:
    return SweepService(session, who.project_id, state.settings, state.store)


ViewerRunService = Annotated[RunService, Depends(viewer_run_service)]
ViewerDatasetService = Annotated[DatasetService, Depends(viewer_dataset_service)]
ViewerSweepService = Annotated[SweepService, Depends(viewer_sweep_service)]


# Pages load only our own files; nothing may frame them (the cancel button) or post them elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}  # (nosniff is added to every response by service/hygiene.py)


def render(
    request: Request, name: str, who: Viewer | None, status_code: int = 200, **context: Any
) -> Response:
    return templates.TemplateResponse(
        request,
        name,
        {"who": who, "nav": name.removesuffix(".html"), **context},
        status_code=status_code,
        headers={**SECURITY_HEADERS, "Cache-Control": "no-store"},
    )
