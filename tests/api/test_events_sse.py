"""`GET /v1/runs/{id}/events` as server-sent events: live, resumable, ending with the run."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from fastapi.testclient import TestClient

from deepfeat.config import Settings
from deepfeat.db.repositories.leases import LeaseRepository
from deepfeat.db.session import make_engine, make_session_factory
from tests.helpers.specs import MLP_SPEC
from tests.keys import key_headers

SSE = {"Accept": "text/event-stream"}


def read_stream(client: TestClient, path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Every event of a stream until the server ends it: `{"event", "id", "data"}` dicts."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    with client.stream("GET", path, headers=headers, timeout=30) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if not line:
                if "data" in current:
                    events.append({**current, "data": json.loads(current["data"])})
                current = {}
                continue
            field, _, value = line.partition(":")
            if field:
                current[field] = value.removeprefix(" ")
    return events


def submit(client: TestClient, headers: dict[str, str]) -> str:
    response = client.post("/v1/runs", json=MLP_SPEC, headers=headers)
    assert response.status_code == 202, response.text
    run_id: str = response.json()["id"]
    return run_id


def test_a_finished_run_streams_its_log_and_ends(client: TestClient, admin_headers: dict[str, str]) -> None:
    run_id = submit(client, admin_headers)
    client.post(f"/v1/runs/{run_id}/cancel", headers=admin_headers)
    events = read_stream(client, f"/v1/runs/{run_id}/events", {**admin_headers, **SSE})
    kinds = [e["event"] for e in events]
    assert kinds == ["status", "status", "run", "end"]
    assert [e["data"]["message"] for e in events[:2]] == ["queued", "cancelled"]
    assert [int(e["id"]) for e in events[:2]] == [e["data"]["id"] for e in events[:2]]
    assert events[2]["data"]["status"] == "cancelled"
    assert "id" not in events[2]  # snapshots carry no id: a reconnect resumes after the last log event
    assert events[3]["data"] == {"status": "cancelled"}
    # Without the Accept header the same URL is still the paged JSON log.
    paged = client.get(f"/v1/runs/{run_id}/events", headers=admin_headers).json()
    assert [e["id"] for e in paged] == [e["data"]["id"] for e in events[:2]]


def test_last_event_id_resumes_after_that_event(client: TestClient, admin_headers: dict[str, str]) -> None:
    run_id = submit(client, admin_headers)
    client.post(f"/v1/runs/{run_id}/cancel", headers=admin_headers)
    first = client.get(f"/v1/runs/{run_id}/events", headers=admin_headers).json()[0]["id"]
    resumed = read_stream(
        client, f"/v1/runs/{run_id}/events", {**admin_headers, **SSE, "Last-Event-ID": str(first)}
    )
    assert [e["data"].get("message") for e in resumed if e["event"] == "status"] == ["cancelled"]
    via_query = read_stream(client, f"/v1/runs/{run_id}/events?after={first}", {**admin_headers, **SSE})
    assert [e["event"] for e in via_query] == ["status", "run", "end"]
    bad = client.get(f"/v1/runs/{run_id}/events", headers={**admin_headers, **SSE, "Last-Event-ID": "x"})
    assert bad.status_code == 400


def test_the_stream_follows_a_worker_live(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    run_id = submit(client, admin_headers)
    engine = make_engine(settings.resolved_database_url)
    sessions = make_session_factory(engine)

    def worker() -> None:  # what workers/runner.py writes, a little at a time
        time.sleep(0.7)
        with sessions() as session:
            leases = LeaseRepository(session)
            attempt = leases.claim(run_id, "test-worker", 60)
            assert attempt == 1
            leases.add_event(run_id, "status", "running", data={"status": "running"})
            session.commit()
        for epoch in (1, 2):
            time.sleep(0.3)
            with sessions() as session:
                leases = LeaseRepository(session)
                progress = {"epoch": epoch, "total_epochs": 2, "step": epoch * 10, "eta_seconds": 1.0}
                leases.renew(run_id, 1, 60, progress)
                leases.record_metrics(run_id, 1, epoch, epoch * 10, {"loss": 1.0 / epoch})
                leases.add_event(run_id, "epoch", f"epoch {epoch}", data={"epoch": epoch, "metrics": {}})
                session.commit()
        with sessions() as session:
            leases = LeaseRepository(session)
            assert leases.finish(run_id, 1, "succeeded")
            leases.add_event(run_id, "status", "succeeded", data={"status": "succeeded"})
            session.commit()

    thread = threading.Thread(target=worker)
    thread.start()
    started = time.monotonic()
    try:
        events = read_stream(client, f"/v1/runs/{run_id}/events", {**admin_headers, **SSE})
    finally:
        thread.join()
        engine.dispose()
    assert time.monotonic() - started < 10
    log = [(e["event"], e["data"]["message"]) for e in events if "id" in e]
    assert log == [
        ("status", "queued"),
        ("status", "running"),
        ("epoch", "epoch 1"),
        ("epoch", "epoch 2"),
        ("status", "succeeded"),
    ]
    snapshots = [e["data"] for e in events if e["event"] == "run"]
    assert snapshots[0]["status"] == "queued"
    assert snapshots[0]["queue_position"] == 1
    assert snapshots[-1]["status"] == "succeeded"
    assert snapshots[-1]["progress"]["epoch"] == 2
    assert events[-1]["event"] == "end"


def test_another_projects_run_is_not_streamed(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    run_id = submit(client, admin_headers)
    other = key_headers(settings, "write", project="other")
    response = client.get(f"/v1/runs/{run_id}/events", headers={**other, **SSE})
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert client.get(f"/v1/runs/{run_id}/events", headers=SSE).status_code == 401
