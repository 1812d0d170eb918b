"""The dashboard's sweep pages (`/sweeps`, `/sweeps/{id}`): a table of trials sortable by the metric,
and a scatter of each parameter against the metric (drawn by the dashboard's own charts.js)."""

from __future__ import annotations

import math
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from deepfeat.specs.sweeps import SweepOut, SweepTrialOut
from service.dashboard import views
from service.dashboard.pages import ViewerSweepService, Who, render
from service.routing import OneHopRoute

router = APIRouter(route_class=OneHopRoute, include_in_schema=False)
Sort = Literal["metric", "number"]


@router.get("/sweeps", response_class=HTMLResponse)
def sweeps_page(request: Request, who: Who, service: ViewerSweepService) -> Response:
    return render(
        request, "sweeps.html", who, sweeps=[service.describe(s) for s in service.page(None, None, 50)[0]]
    )


@router.get("/sweeps/{sweep_id}", response_class=HTMLResponse)
def sweep_page(
    request: Request,
    sweep_id: str,
    who: Who,
    service: ViewerSweepService,
    sort: Sort = "metric",
    order: Literal["asc", "desc"] | None = None,
) -> Response:
    sweep = service.describe(service.get(sweep_id))
    best_first = "desc" if sweep.metric.goal == "maximize" else "asc"
    direction: str = order or (best_first if sort == "metric" else "asc")
    names = list(sweep.spec.get("parameters", {}))
    return render(
        request,
        "sweep.html",
        who,
        sweep=sweep,
        trials=_sorted(sweep.trials, sort, direction),
        names=names,
        sort=sort,
        order=direction,
        data=views.script_json({"metric": sweep.metric.name, "plots": [_plot(sweep, n) for n in names]}),
    )


def _sorted(trials: list[SweepTrialOut], sort: Sort, order: str) -> list[SweepTrialOut]:
    """By metric (trials without one last, whatever the order) or by trial number."""
    if sort == "number":
        return sorted(trials, key=lambda t: t.number, reverse=order == "desc")
    scored = sorted((t for t in trials if t.metric is not None), key=lambda t: t.metric or 0.0)
    if order == "desc":
        scored.reverse()
    return scored + [t for t in trials if t.metric is None]


def _plot(sweep: SweepOut, name: str) -> dict[str, Any]:
    """One parameter against the metric: numbers on a (log, for a log distribution) axis, choices by
    their index with their labels. One series per trial status."""
    param = sweep.spec["parameters"][name]
    log = param.get("distribution") == "log_uniform_values"
    choices = [views.fmt_value(v) for v in (param.get("values") or [])]
    series: dict[str, list[list[float]]] = {}
    for t in sweep.trials:
        value = t.params.get(name)
        if t.metric is None or value is None:
            continue
        if choices:
            x = float(choices.index(views.fmt_value(value))) if views.fmt_value(value) in choices else -1.0
        elif log and isinstance(value, int | float) and value > 0:
            x = math.log10(value)
        elif isinstance(value, int | float):
            x = float(value)
        else:
            continue
        series.setdefault(t.status, []).append([x, t.metric])
    return {"name": name, "log": log, "choices": choices, "series": series}
