"""The dashboard's pages (`/`, `/runs/{id}`, `/compare`, ...): server-rendered, signed in by cookie.

Pages reuse the services and repositories of the JSON API with the project of the signed-in key, so a
browser sees exactly what that key would see through `/v1`. Every form that changes state is a POST
carrying the session's CSRF token.
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Any, get_args
from urllib.parse import quote, urlencode

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from deepfeat.db.repositories.dashboard import DashboardRepository
from deepfeat.db.repositories.workers import stale_after
from deepfeat.db.types import MAX_BIGINT, utcnow
from deepfeat.encoders.catalogue import PRETRAINED
from deepfeat.errors import Conflict, DeepfeatError, NotFound, Unauthorized
from deepfeat.services.auth import authenticate
from deepfeat.services.runs import RunService, run_search
from deepfeat.services.workers import online_workers
from deepfeat.specs.run_filter import MAX_FILTER_CHARS
from deepfeat.specs.runs import TERMINAL_STATUSES, RunStatus
from service.dashboard import views
from service.dashboard.pages import (
    HERE,
    Cookies,
    Poster,
    SignInRequired,
    ViewerDatasetService,
    ViewerRunService,
    Who,
    render,
)
from service.dashboard.session import Sessions
from service.deps import DbSession, State
from service.downloads import artifact_response
from service.routing import OneHopRoute, blocking
from service.streaming import event_stream_response, resume_point

router = APIRouter(route_class=OneHopRoute, include_in_schema=False)
PAGE = 50
QUEUES = ("cpu", "gpu")
PREVIEW_ROWS = 10


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _safe_next(target: str) -> str:
    """Only a path on this site: `//host` and `/\\host` would leave it (an open redirect)."""
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/"


@router.get("/signin", response_class=HTMLResponse)
def signin_form(request: Request, cookies: Cookies, next: str = "/") -> Response:
    return _signin_page(request, cookies, _safe_next(next), None)


def _signin_page(request: Request, cookies: Cookies, target: str, error: str | None) -> Response:
    return cookies.start_signin(
        lambda token: render(
            request, "signin.html", None, 401 if error else 200, next=target, error=error, csrf=token
        ),
        _secure(request),
    )


@router.post("/signin")
def signin(
    request: Request,
    session: DbSession,
    cookies: Cookies,
    key: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    target = _safe_next(next)
    if not cookies.signin_ok(request, csrf):
        return _signin_page(request, cookies, target, "The form expired; please sign in again.")
    try:
        principal = authenticate(session, key.strip())
    except Unauthorized:
        return _signin_page(request, cookies, target, "That key is not valid.")
    response = RedirectResponse(target, status_code=303)
    cookies.sign_in(response, principal, _secure(request))
    return response


@router.post("/signout")
def signout(_: Poster) -> Response:
    response = RedirectResponse("/signin", status_code=303)
    Sessions.sign_out(response)
    return response


@router.get("/", response_class=HTMLResponse)
def runs_page(
    request: Request,
    who: Who,
    service: ViewerRunService,
    status: Annotated[str | None, Query(max_length=20)] = None,
    after: str | None = None,
    experiment: Annotated[str | None, Query(max_length=200)] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    filter: Annotated[str | None, Query(max_length=MAX_FILTER_CHARS)] = None,
) -> Response:
    status = status if status in get_args(RunStatus) else None  # the form's "all" sends an empty one
    narrowed = {"experiment": experiment or None, "tag": tag or None, "filter": filter or None}
    problem = None
    try:
        search = run_search(narrowed["experiment"], [tag] if tag else [], narrowed["filter"], None, "desc")
        rows, next_after = service.page(status, after, PAGE, search)
    except DeepfeatError as exc:  # a filter that does not parse: say where, list nothing
        problem, rows, next_after = exc.detail, [], None
    positions = service.queue_positions(rows)
    runs = [
        {
            "run": r,
            "progress": views.progress_view(r.status, r.progress),
            "best": views.best_metric(r.best_metrics),
            "queue_position": positions.get(r.id),
        }
        for r in rows
    ]
    query = urlencode({k: v for k, v in {"status": status, **narrowed}.items() if v})
    return render(
        request,
        "runs.html",
        who,
        422 if problem else 200,
        runs=runs,
        status=status,
        next_after=next_after,
        narrowed=narrowed,
        query=query,
        problem=problem,
        experiments=service.experiments(),
    )


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: str, who: Who, service: ViewerRunService, state: State) -> Response:
    try:
        run = service.get(run_id)
    except NotFound:
        return render(request, "missing.html", who, 404, what=f"run {run_id}")
    metrics = views.series(service.metrics(run_id, None))
    events = list(service.events(run_id, None, 1000))
    artifacts = list(service.artifacts(run_id))
    receipt = next((a for a in artifacts if a.name == "receipt.json"), None)
    receipt_text = None
    if receipt is not None and receipt.size_bytes < 256 * 1024:
        receipt_text = state.store.path(receipt.path).read_text(errors="replace")
    position = service.queue_positions([run]).get(run.id)
    autoencoder = (
        views.autoencoder_panel(run.id, artifacts, state.store) if run.task == "autoencoder" else None
    )
    return render(
        request,
        "run.html",
        who,
        run=run,
        progress=views.progress_view(run.status, run.progress),
        best=views.best_metric(run.best_metrics),
        queue_position=position,
        groups=views.chart_groups(list(metrics)),
        health=views.health_panels(metrics),
        latest={k: v[-1][1] for k, v in metrics.items() if v},
        events=events,
        artifacts=artifacts,
        images=[
            a for a in artifacts if a.media_type.startswith("image/") and a.name not in views.SHOWN_APART
        ][-12:],
        autoencoder=autoencoder,
        receipt_text=receipt_text,
        spec_text=views.pretty_json(run.spec),
        best_text=views.pretty_json(run.best_metrics) if run.best_metrics else None,
        data=views.script_json(
            {
                "run_id": run.id,
                "metrics": metrics,
                "last_event_id": events[-1].id if events else None,
                "terminal": run.status in TERMINAL_STATUSES,
                "task": run.task,
                "best_epoch": views.best_epoch(receipt_text),
            }
        ),
    )


@router.get("/runs/{run_id}/events")
def run_events(
    run_id: str,
    request: Request,
    who: Who,
    state: State,
    after: Annotated[int | None, Query(ge=0, le=MAX_BIGINT)] = None,
) -> Response:
    """The run page's live feed: the same stream as `/v1/runs/{id}/events`, signed in by cookie."""
    with state.sessions() as session:
        RunService(session, who.project_id, state.settings, state.store).get(run_id)
    start = resume_point(request.headers.get("last-event-id"), after)
    return event_stream_response(state.sessions, who.project_id, run_id, start)


@router.post("/runs/{run_id}/cancel")
def cancel(run_id: str, who: Poster, service: ViewerRunService) -> Response:
    who.principal.require("write")
    with contextlib.suppress(Conflict):  # already finished: the page shows how
        service.cancel(run_id)
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


@router.get("/runs/{run_id}/artifacts/{name:path}")
@blocking  # the store
def artifact(run_id: str, name: str, _: Who, service: ViewerRunService, state: State) -> Response:
    service.get(run_id)
    for a in service.artifacts(run_id):
        if a.name == name:
            return artifact_response(state.store, a.path, a.media_type, a.name, a.sha256, state.settings)
    raise NotFound(f"run {run_id} has no artifact {name!r}")


@router.get("/compare", response_class=HTMLResponse)
def compare(
    request: Request,
    who: Who,
    service: ViewerRunService,
    run: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults per request
    key: str = "val_loss",
) -> Response:
    recent, _ = service.page(None, None, PAGE)
    chosen: list[dict[str, Any]] = []
    facts: list[dict[str, str]] = []
    for run_id in run[:12]:
        found = service.find(run_id)
        if found is not None:
            metrics = views.series(service.metrics(run_id, None))
            chosen.append({"id": found.id, "name": found.name, "metrics": metrics})
            facts.append(views.run_facts(found))
    keys = sorted({k for c in chosen for k in c["metrics"]}) or ["loss", "val_loss"]
    return render(
        request,
        "compare.html",
        who,
        recent=recent,
        chosen=chosen,
        selected={c["id"] for c in chosen},
        key=key,
        keys=keys,
        diff=views.spec_diff(facts),
        data=views.script_json({"key": key, "runs": chosen}),
    )


@router.get("/datasets", response_class=HTMLResponse)
def datasets(request: Request, who: Who, service: ViewerDatasetService) -> Response:
    rows = service.page(None, 200)[0]
    return render(request, "datasets.html", who, datasets=rows, pretty=views.pretty_json)


@router.get("/datasets/{dataset_id}", response_class=HTMLResponse)
def dataset_page(request: Request, dataset_id: str, who: Who, service: ViewerDatasetService) -> Response:
    try:
        dataset = service.get(dataset_id)
    except NotFound:
        return render(request, "missing.html", who, 404, what=f"dataset {dataset_id}")
    preview = views.preview_table(service.preview(dataset_id, PREVIEW_ROWS)["rows"])
    return render(request, "dataset.html", who, d=dataset, preview=preview, pretty=views.pretty_json)


@router.get("/encoders", response_class=HTMLResponse)
def encoders(request: Request, who: Who, session: DbSession) -> Response:
    rows = DashboardRepository(session).encoders(who.project_id)
    pretrained = [entry.describe() for _, entry in sorted(PRETRAINED.items())]
    return render(request, "encoders.html", who, encoders=rows, pretrained=pretrained)


@router.get("/workers", response_class=HTMLResponse)
def workers(request: Request, who: Who, session: DbSession, state: State) -> Response:
    repo = DashboardRepository(session)
    online = online_workers(session, who.project_id, state.settings)
    return render(
        request,
        "workers.html",
        who,
        workers=online,
        serving={q: sum(q in w.queues for w in online) for q in QUEUES},
        depth=repo.queue_depth(),
        counts=repo.status_counts(),
        stale_s=stale_after(state.settings.heartbeat_seconds).total_seconds(),
        now=utcnow(),
    )


def install_dashboard(app: FastAPI) -> None:
    """Pages, their static files, and the redirect to sign-in for a browser without a session."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(SignInRequired)
    async def _to_signin(_: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(f"/signin?next={quote(exc.next_url)}", status_code=303)
