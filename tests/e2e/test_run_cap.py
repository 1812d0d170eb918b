"""The per-project cap with a real worker: with cap 1 and two worker processes, two runs of one project
never train at once, the second waits `queued` at position 1, and both succeed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from deepfeat.devstack import DevStack
from tests.helpers.env import ADMIN_KEY, REDIS_URL
from tests.helpers.specs import MLP_SPEC

SPEC = {
    **MLP_SPEC,
    "training": {**MLP_SPEC["training"], "epochs": 25, "batch_size": 16},
}
ACTIVE = ("running", "cancelling")


@pytest.fixture(params=["embedded", "postgres+redis"])
def capped(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[httpx.Client]:
    database_url = broker_url = None
    if request.param == "postgres+redis":
        if not REDIS_URL:
            pytest.skip("DEEPFEAT_TEST_REDIS_URL not set (CI sets it)")
        database_url, broker_url = request.getfixturevalue("pg_database"), REDIS_URL
    env = {"DEEPFEAT_MAX_CONCURRENT_RUNS_PER_PROJECT": "1"}
    with (
        DevStack(
            tmp_path / "var", ADMIN_KEY, database_url, broker_url, worker_concurrency=2, extra_env=env
        ) as stack,
        httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30) as api,
    ):
        yield api


def test_cap_one_runs_one_at_a_time_and_both_succeed(capped: httpx.Client) -> None:
    first = capped.post("/v1/runs", json={**SPEC, "name": "first"}).json()
    second = capped.post("/v1/runs", json={**SPEC, "name": "second"}).json()
    assert first["queue_position"] == 1
    # A worker may claim the first run while the second is being submitted: then the second is #1.
    # A first run still queued now had not started then either, so the second must be #2.
    if capped.get(f"/v1/runs/{first['id']}").json()["status"] == "queued":
        assert second["queue_position"] == 2, second
    else:
        assert second["queue_position"] in (1, 2), second
    seen_waiting = False
    deadline = time.monotonic() + 300
    while True:
        a, b = (capped.get(f"/v1/runs/{r['id']}").json() for r in (first, second))
        assert not (a["status"] in ACTIVE and b["status"] in ACTIVE), (a, b)
        if a["status"] in ACTIVE and b["status"] == "queued":
            assert b["queue_position"] == 1, b
            seen_waiting = True
        listed = {r["id"]: r for r in capped.get("/v1/runs").json()["data"]}
        la, lb = listed[a["id"]], listed[b["id"]]
        if lb["status"] == "queued":  # the list shows the same positions as a single run
            assert lb["queue_position"] == (2 if la["status"] == "queued" else 1), (la, lb)
        else:
            assert lb["queue_position"] is None
        if a["status"] == "succeeded" and b["status"] == "succeeded":
            break
        assert a["status"] not in ("failed", "cancelled"), a
        assert b["status"] not in ("failed", "cancelled"), b
        assert time.monotonic() < deadline, (a, b)
        time.sleep(0.1)
    assert seen_waiting
    assert a["queue_position"] is None
    # The second started only after the first had finished (its only attempt).
    assert b["attempt"] == 1
    assert datetime.fromisoformat(b["started_at"]) >= datetime.fromisoformat(a["finished_at"])
