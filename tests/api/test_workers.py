"""`GET /v1/workers` and the workers page: every online worker, other projects' runs never named."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from deepfeat.config import Settings
from deepfeat.db.repositories.leases import LeaseRepository
from deepfeat.db.repositories.workers import WorkerBeat, WorkerRepository
from deepfeat.db.session import make_engine, make_session_factory
from deepfeat.db.types import utcnow
from deepfeat.services.auth import create_key, ensure_project
from tests.helpers.api import sign_in
from tests.helpers.specs import MLP_SPEC


def heartbeat(name: str, owner: str) -> WorkerBeat:
    return WorkerBeat(name, "host", 7, "cpu", "cpu (2 cores)", ["cpu"], 1, [owner])


def test_workers_are_listed_with_only_this_projects_run_ids(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    mine = client.post("/v1/runs", json={**MLP_SPEC, "name": "mine"}, headers=admin_headers).json()["id"]
    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as session:
        project = ensure_project(session, "other")
        other_key, reader_key = create_key(session, project, "write"), create_key(session, project, "read")
        session.commit()
    theirs_headers = {"Authorization": f"Bearer {other_key}"}
    theirs = client.post("/v1/runs", json={**MLP_SPEC, "name": "theirs"}, headers=theirs_headers).json()["id"]
    with make_session_factory(engine)() as session:
        leases, workers = LeaseRepository(session), WorkerRepository(session)
        assert leases.claim(mine, "host:11", 60) == 1
        assert leases.claim(theirs, "host:21", 60) == 1
        workers.beat(heartbeat("a@host", "host:11"))
        workers.beat(heartbeat("b@host", "host:21"))
        workers.beat(heartbeat("idle@host", "host:31"))
        workers.beat(heartbeat("dead@host", "host:41"), now=utcnow() - timedelta(minutes=5))
        session.commit()
    engine.dispose()

    answer = client.get("/v1/workers", headers=admin_headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["stale_after_s"] == 3 * settings.heartbeat_seconds
    seen = {w["id"]: (w["state"], w["run_id"]) for w in body["data"]}
    assert seen == {"a@host": ("busy", mine), "b@host": ("busy", None), "idle@host": ("idle", None)}
    assert theirs not in answer.text
    assert {w["device_name"] for w in body["data"]} == {"cpu (2 cores)"}

    # A read key of the other project sees its own run and not ours.
    reader = client.get("/v1/workers", headers={"Authorization": f"Bearer {reader_key}"}).json()
    assert {w["id"]: w["run_id"] for w in reader["data"]}["b@host"] == theirs
    assert mine not in str(reader)
    assert client.get("/v1/workers").status_code == 401

    sign_in(client)
    page = client.get("/workers").text
    assert "a@host" in page
    assert "idle@host" in page
    assert "dead@host" not in page
    assert f'href="/runs/{mine}"' in page
    assert theirs not in page
    assert "a run of another project" in page
    metrics = client.get("/metrics").text
    assert "deepfeat_live_workers 3.0" in metrics
