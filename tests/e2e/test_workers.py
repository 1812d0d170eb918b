"""Worker heartbeats with real processes, on each backend: a started worker appears with its device and
queues, is counted by `/metrics`, and removes itself when stopped cleanly; a worker with two pool
processes reports each one's device, and a run trains in the slot the heartbeat names."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deepfeat.devstack import DevStack
from tests.helpers.env import ADMIN_KEY, REDIS_URL
from tests.helpers.specs import MLP_SPEC

pytestmark = pytest.mark.e2e


def online(api: httpx.Client, count: int, timeout_s: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while True:
        workers: list[dict[str, Any]] = api.get("/v1/workers").json()["data"]
        if len(workers) == count or time.monotonic() > deadline:
            return workers
        time.sleep(0.2)


def test_a_worker_says_hello_and_goodbye(stack: DevStack, api: httpx.Client) -> None:
    (worker,) = online(api, 1)
    assert worker["device"] in ("cpu", "cuda")
    assert worker["queues"] == ["cpu"]
    assert worker["state"] == "idle"
    assert worker["run_id"] is None
    gauge = [
        line
        for line in httpx.get(f"{stack.url}/metrics").text.splitlines()
        if line.startswith("deepfeat_live")
    ]
    assert gauge == ["deepfeat_live_workers 1.0"]
    assert stack.stop_worker() == 0
    assert online(api, 0, timeout_s=5) == []  # gone at once, not after three missed heartbeats


@pytest.fixture(params=["embedded", "postgres+redis"])
def two_slots(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[httpx.Client]:
    """A worker with `--concurrency 2`: two pool processes, each with its own device."""
    database_url = broker_url = None
    if request.param == "postgres+redis":
        if not REDIS_URL:
            pytest.skip("DEEPFEAT_TEST_REDIS_URL not set (CI sets it)")
        database_url, broker_url = request.getfixturevalue("pg_database"), REDIS_URL
    with (
        DevStack(tmp_path / "var", ADMIN_KEY, database_url, broker_url, worker_concurrency=2) as stack,
        httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30) as api,
    ):
        yield api


def slots_of(api: httpx.Client, count: int, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        workers = api.get("/v1/workers").json()["data"]
        if (len(workers) == 1 and len(workers[0]["slots"]) == count) or time.monotonic() > deadline:
            (worker,) = workers
            return dict(worker)
        time.sleep(0.2)


def test_each_pool_process_reports_its_device_and_a_run_trains_in_its_slot(two_slots: httpx.Client) -> None:
    api = two_slots
    worker = slots_of(api, 2)
    slots = worker["slots"]
    assert [s["index"] for s in slots] == [0, 1]
    assert len({s["pid"] for s in slots}) == 2
    assert worker["pid"] not in {s["pid"] for s in slots}
    if worker["device"] == "cpu":  # this machine: no GPU, so both slots train on the CPU
        assert [(s["device"], s["gpu"]) for s in slots] == [("cpu", None), ("cpu", None)]
    else:
        assert slots[0]["device"] == "cuda:0"
        assert slots[1]["device"] in ("cuda:0", "cuda:1")
    assert [s["state"] for s in slots] == ["idle", "idle"]

    long_run = {**MLP_SPEC, "name": "slot", "training": {**MLP_SPEC["training"], "epochs": 1000}}
    submitted = api.post("/v1/runs", json=long_run)
    assert submitted.status_code == 202, submitted.text
    run_id = submitted.json()["id"]
    deadline = time.monotonic() + 120
    while api.get(f"/v1/runs/{run_id}").json()["status"] != "running":
        assert time.monotonic() < deadline, api.get(f"/v1/runs/{run_id}").json()
        time.sleep(0.2)
    events = api.get(f"/v1/runs/{run_id}/events").json()
    started = next(e["data"] for e in events if e["data"].get("status") == "running")
    pid = int(started["worker"].rpartition(":")[2])
    # The child's own idea of its index (claimed in the child at start) is the heartbeat's.
    (mine,) = [s for s in slots if s["pid"] == pid]
    assert started["slot"] == mine["index"]
    busy = {s["pid"]: s for s in slots_of(api, 2)["slots"]}
    assert (busy[pid]["state"], busy[pid]["run_id"]) == ("busy", run_id)
    (other,) = [s for p, s in busy.items() if p != pid]
    assert (other["state"], other["run_id"]) == ("idle", None)
    assert api.post(f"/v1/runs/{run_id}/cancel").status_code == 200
