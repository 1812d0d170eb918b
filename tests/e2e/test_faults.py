"""Never lose a run: real worker processes killed, stopped, duplicated and starved of their broker."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deepfeat.config import Settings
from deepfeat.devstack import DevStack
from tests.helpers.env import ADMIN_KEY, REDIS_URL
from tests.helpers.stack import running_stack
from tests.helpers.waiting import FAST_RECOVERY, SLOW, metric_epochs, wait_for, wait_until
from workers.queue import Enqueuer

pytestmark = pytest.mark.e2e


@pytest.fixture(params=["embedded", "postgres+redis"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DevStack]:
    yield from running_stack(request, tmp_path, FAST_RECOVERY)


def test_kill_9_mid_run_resumes_from_the_checkpoint_on_a_new_worker(
    api: httpx.Client, stack: DevStack
) -> None:
    run_id = api.post("/v1/runs", json=SLOW).json()["id"]
    at_kill = wait_until(api, run_id, lambda r: r["progress"].get("epoch", 0) >= 3)["progress"]["epoch"]
    stack.kill_worker()
    stack.start_worker()
    run = wait_for(api, run_id, timeout_s=120)
    assert run["status"] == "succeeded", run["error"]
    assert run["attempt"] == 2
    receipt = api.get(f"/v1/runs/{run_id}/artifacts/receipt.json").json()
    assert receipt["resumed_from_epoch"] >= at_kill - 1  # at most one epoch redone
    assert metric_epochs(api, run_id) == list(range(1, 11))  # every epoch once, none duplicated
    events = [e["message"] for e in api.get(f"/v1/runs/{run_id}/events", params={"limit": 200}).json()]
    assert any(m.startswith("requeued: the worker of attempt 1") for m in events)


def test_sigterm_requeues_the_run_and_another_worker_finishes_it(api: httpx.Client, stack: DevStack) -> None:
    run_id = api.post("/v1/runs", json=SLOW).json()["id"]
    wait_until(api, run_id, lambda r: r["progress"].get("epoch", 0) >= 2)
    started = time.monotonic()
    assert stack.stop_worker() == 0
    assert time.monotonic() - started < 15  # wound down, not trained to the end
    assert api.get(f"/v1/runs/{run_id}").json()["status"] == "queued"
    stack.start_worker()
    run = wait_for(api, run_id, timeout_s=120)
    assert run["status"] == "succeeded", run["error"]
    assert run["attempt"] == 2
    assert run["max_attempts"] == 4  # a preemption does not use up an attempt
    assert metric_epochs(api, run_id) == list(range(1, 11))


def test_the_same_message_delivered_twice_trains_once(api: httpx.Client, stack: DevStack) -> None:
    run_id = api.post("/v1/runs", json={**SLOW, "training": {**SLOW["training"], "epochs": 3}}).json()["id"]
    settings = Settings(data_dir=stack.data_dir, database_url=stack.database_url, broker_url=stack.broker_url)
    Enqueuer(settings)(run_id, "cpu")  # a duplicate, as a broker redelivery would make
    run = wait_for(api, run_id)
    time.sleep(1.5)  # give the duplicate time to be consumed
    assert run["status"] == "succeeded"
    assert api.get(f"/v1/runs/{run_id}").json()["attempt"] == 1
    events = [e["message"] for e in api.get(f"/v1/runs/{run_id}/events").json()]
    assert sum(m.startswith("running") for m in events) == 1


def test_cancel_of_a_running_run_lands_quickly(api: httpx.Client, stack: DevStack) -> None:
    run_id = api.post("/v1/runs", json=SLOW).json()["id"]
    wait_until(api, run_id, lambda r: r["progress"].get("epoch", 0) >= 1)
    assert api.post(f"/v1/runs/{run_id}/cancel").json()["status"] == "cancelling"
    started = time.monotonic()
    run = wait_for(api, run_id)
    assert run["status"] == "cancelled"
    assert time.monotonic() - started < 3
    assert run["progress"]["epoch"] < 10


def test_a_run_that_keeps_killing_its_worker_fails_after_the_cap(api: httpx.Client, stack: DevStack) -> None:
    run_id = api.post("/v1/runs", json=SLOW).json()["id"]
    for attempt in (1, 2, 3):
        wait_until(api, run_id, lambda r, a=attempt: r["status"] == "running" and r["attempt"] == a)
        stack.kill_worker()
        stack.start_worker()
    run = wait_for(api, run_id)
    assert run["status"] == "failed"
    assert run["error"] == "worker lost: lease expired on attempt 3 of 3"


def test_a_redis_restart_while_runs_wait_loses_none(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if not REDIS_URL:
        pytest.skip("DEEPFEAT_TEST_REDIS_URL not set (CI sets it)")
    database = request.getfixturevalue("pg_database")
    with (
        DevStack(tmp_path / "var", ADMIN_KEY, database, REDIS_URL, extra_env=FAST_RECOVERY) as stack,
        httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30) as api,
    ):
        assert stack.stop_worker() == 0
        spec = {**SLOW, "model": {"type": "mlp", "hidden": [16]}, "training": {"epochs": 2}}
        ids = [api.post("/v1/runs", json=spec).json()["id"] for _ in range(3)]
        # The test Redis keeps nothing on disk: a restart drops every queued message.
        subprocess.run(["redis-cli", "-u", REDIS_URL, "shutdown", "nosave"], check=False, capture_output=True)
        subprocess.run(
            [
                "redis-server",
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "-::1",
                "--port",
                "6379",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            check=True,
            capture_output=True,
        )
        for _ in range(50):
            if subprocess.run(["redis-cli", "-u", REDIS_URL, "ping"], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        stack.start_worker()
        runs = [wait_for(api, run_id, timeout_s=90) for run_id in ids]
        assert [r["status"] for r in runs] == ["succeeded"] * 3
