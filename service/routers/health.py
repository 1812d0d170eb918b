"""Liveness and readiness (no key needed)."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from deepfeat.db.migrate import ensure_up_to_date
from service.deps import State
from service.routing import OneHopRoute, blocking

router = APIRouter(route_class=OneHopRoute, tags=["health"])
log = logging.getLogger(__name__)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "a dependency is down"}})
@blocking  # probes the database and the broker, which may time out
def readyz(state: State, request: Request) -> JSONResponse:
    checks: dict[str, Any] = {}
    runtime = getattr(request.app.state, "encoders", None)
    if runtime is not None and state.settings.preload:  # DEEPFEAT_PRELOAD_ENCODERS: loaded yet?
        errors = runtime.preload_errors
        checks["encoders"] = (
            "loading" if not runtime.ready.is_set() else f"failed: {errors}" if errors else "ok"
        )
    try:
        with state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        ensure_up_to_date(state.engine)
        checks["database"] = "ok"
    except Exception:
        checks["database"] = _down("database")
    try:
        state.enqueue.ping()
        checks["broker"] = "ok"
    except Exception:
        checks["broker"] = _down("broker")
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
        headers=None if ready else {"Retry-After": "5"},
    )


def _down(what: str) -> str:
    """What an unauthenticated caller may know: that it is down, and the id of the log line saying why.
    The exception's text (hosts, paths, SQL, sometimes credentials) stays in the server log."""
    error_id = secrets.token_hex(8)
    log.exception("readiness: %s is down (%s)", what, error_id)
    return f"down (see the server log, id {error_id})"
