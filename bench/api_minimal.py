"""The baselines for bench/api.py, served by uvicorn exactly as deepfeat's API is.

`minimal` does the work of `GET /v1/runs/{id}` the plain way: the bearer key looked up by sha256, the run
read by id, a pydantic answer, sync SQLAlchemy 2 on the same SQLite file in FastAPI's thread pool.
`bare` answers a constant: the ceiling of FastAPI + uvicorn on this machine (for bench/embed.py's
digits case too).

    DEEPFEAT_BENCH_DB=sqlite:///var/deepfeat.db uvicorn bench.api_minimal:minimal
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException
from pydantic import BaseModel
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

bare = FastAPI()


@bare.get("/v1/runs/{run_id}")
def bare_run(run_id: str) -> dict[str, Any]:
    return {"id": run_id, "status": "queued"}


@bare.post("/v1/encoders/{name}/embed")
async def bare_embed(name: str, dim: int = 32) -> dict[str, Any]:
    """bench/embed.py's HTTP ceiling: an embedding route (async, as deepfeat's is) answering a constant
    `dim`-vector (the encoder's width), so nothing but FastAPI + uvicorn is measured."""
    return {"model": name, "embeddings": [[0.0] * dim]}


minimal = FastAPI()
_engine = create_engine(os.environ.get("DEEPFEAT_BENCH_DB", "sqlite://"))
_sessions = sessionmaker(_engine)


class RunOut(BaseModel):
    id: str
    name: str | None
    status: str
    task: str
    attempt: int
    created_at: datetime
    spec: dict[str, Any]


def session() -> Iterator[Session]:
    with _sessions() as s:
        yield s


@minimal.get("/v1/runs/{run_id}")
def minimal_run(
    run_id: str, db: Annotated[Session, Depends(session)], authorization: Annotated[str, Header()] = ""
) -> RunOut:
    digest = hashlib.sha256(authorization.removeprefix("Bearer ").encode()).hexdigest()
    key = db.execute(
        text("SELECT project_id FROM api_keys WHERE key_hash = :h AND revoked_at IS NULL"), {"h": digest}
    ).first()
    if key is None:
        raise HTTPException(401)
    row = db.execute(
        text(
            "SELECT id, name, status, task, attempt, created_at, spec FROM runs"
            " WHERE id = :id AND project_id = :p"
        ),
        {"id": run_id, "p": key.project_id},
    ).first()
    if row is None:
        raise HTTPException(404)
    return RunOut(
        id=row.id,
        name=row.name,
        status=row.status,
        task=row.task,
        attempt=row.attempt,
        created_at=row.created_at,
        spec=json.loads(row.spec) if isinstance(row.spec, str) else row.spec,
    )
