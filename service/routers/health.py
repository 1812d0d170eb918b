"""Liveness and readiness (no key needed)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from deepfeat.db.migrate import ensure_up_to_date
from service.deps import State

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "a dependency is down"}})
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
    except Exception as exc:
        checks["database"] = f"down: {exc}"
    try:
        state.enqueue.ping()
        checks["broker"] = "ok"
    except Exception as exc:
        checks["broker"] = f"down: {exc}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status_code=200 if ready else 503
    )
