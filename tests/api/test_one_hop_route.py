"""`OneHopRoute`: a sync endpoint and the end of its transaction in one thread hop; reads on their own
small pool, writes and `@blocking` reads on the shared one."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
import pytest
from fastapi import APIRouter, FastAPI, HTTPException
from sqlalchemy import select

from deepfeat.config import Settings
from deepfeat.db.models import Project
from deepfeat.db.session import after_commit
from service.app import create_app
from service.deps import DbSession
from service.routing import OneHopRoute, blocking

T = TypeVar("T")


class Probe:
    """What the endpoints saw: their threads, and how many of them ran at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = self.most_active = 0
        self.threads: dict[str, int] = {}

    def hold(self, seconds: float) -> None:
        with self.lock:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        time.sleep(seconds)
        with self.lock:
            self.active -= 1


def probed_app(settings: Settings, probe: Probe) -> FastAPI:
    app = create_app(settings)
    router = APIRouter(route_class=OneHopRoute, prefix="/probe")

    @router.post("/commit")
    def commit_with_callback(session: DbSession) -> dict[str, str]:
        probe.threads["endpoint"] = threading.get_ident()
        session.add(Project(id="prj_kept", name="kept"))
        after_commit(session, lambda: probe.threads.__setitem__("after_commit", threading.get_ident()))
        return {"ok": "yes"}

    @router.post("/fail")
    def fail_after_writing(session: DbSession) -> None:
        session.add(Project(id="prj_lost", name="lost"))
        session.flush()  # the row is in the transaction: only the rollback can drop it
        raise HTTPException(409, "refused after writing")

    @router.get("/read")
    def read(session: DbSession) -> list[str]:
        probe.hold(0.15)
        return list(session.scalars(select(Project.id)))

    @router.post("/write")
    def write() -> None:
        probe.hold(0.15)

    @router.get("/slow-read")
    @blocking
    def slow_read() -> None:
        probe.hold(0.15)

    app.include_router(router)
    return app


Call = Callable[[httpx.AsyncClient], Awaitable[T]]


def served(settings: Settings, calls: Call[T]) -> tuple[T, Probe]:
    """`calls` made against the probed app (one read thread), inside its lifespan."""
    probe = Probe()
    app = probed_app(settings.model_copy(update={"api_read_threads": 1}), probe)

    async def main() -> T:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                return await calls(http)

    return asyncio.run(main()), probe


def test_a_sync_endpoint_commits_in_its_own_thread_before_answering(settings: Settings) -> None:
    async def calls(http: httpx.AsyncClient) -> tuple[int, list[str]]:
        status = (await http.post("/probe/commit")).status_code
        return status, (await http.get("/probe/read")).json()

    (status, projects), probe = served(settings, calls)
    assert status == 200
    assert "prj_kept" in projects
    assert probe.threads["after_commit"] == probe.threads["endpoint"]


def test_an_endpoint_that_raises_leaves_nothing_written(settings: Settings) -> None:
    async def calls(http: httpx.AsyncClient) -> tuple[httpx.Response, list[str]]:
        return await http.post("/probe/fail"), (await http.get("/probe/read")).json()

    (refused, projects), _ = served(settings, calls)
    assert refused.status_code == 409
    assert "refused after writing" in refused.text
    assert "prj_lost" not in projects


def three_at_once(method: str, path: str) -> Call[list[int]]:
    async def calls(http: httpx.AsyncClient) -> list[int]:
        answers = await asyncio.gather(*(http.request(method, path) for _ in range(3)))
        return [a.status_code for a in answers]

    return calls


def test_reads_take_turns_on_the_read_lane(settings: Settings) -> None:
    statuses, probe = served(settings, three_at_once("GET", "/probe/read"))
    assert statuses == [200, 200, 200]
    assert probe.most_active == 1  # DEEPFEAT_API_READ_THREADS=1


@pytest.mark.parametrize(("method", "path"), [("POST", "/probe/write"), ("GET", "/probe/slow-read")])
def test_writes_and_blocking_reads_keep_off_the_read_lane(settings: Settings, method: str, path: str) -> None:
    statuses, probe = served(settings, three_at_once(method, path))
    assert statuses == [200, 200, 200]
    assert probe.most_active > 1
