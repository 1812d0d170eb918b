"""Sweeps end to end on a real API and Celery worker: bayes + hyperband finds a good run while pruning
some, trains fewer epochs than the same sweep without early termination, and keeps going across a
worker killed mid-sweep. One stack (one worker) serves the module."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from deepfeat.devstack import DevStack
from tests.helpers.env import ADMIN_KEY
from tests.helpers.stack import running_stack

pytestmark = pytest.mark.e2e

FAST = {
    "DEEPFEAT_LEASE_SECONDS": "5",
    "DEEPFEAT_HEARTBEAT_SECONDS": "0.5",
    "DEEPFEAT_REAPER_INTERVAL_S": "0.5",
    "DEEPFEAT_REQUEUE_QUEUED_AFTER_S": "2",
}
EPOCHS = 9  # hyperband rungs at epochs 1, 3 and 9 (eta 3)
SWEEP: dict[str, Any] = {
    "name": "digits-lr-hidden",
    "base": {
        "dataset": "builtin:digits",
        "task": "classification",
        "model": {"type": "mlp", "hidden": [64]},
        "training": {"epochs": EPOCHS, "batch_size": 64, "optimizer": {"name": "adam", "lr": 0.001}},
    },
    "method": "bayes",
    "metric": {"name": "val_accuracy", "goal": "maximize"},
    "parameters": {
        "training.optimizer.lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1.0},
        "model.hidden": {"values": [[32], [64], [128, 64]]},
    },
    "run_cap": 12,
    "parallelism": 2,
    "seed": 7,
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with DevStack(tmp_path_factory.mktemp("sweeps") / "var", ADMIN_KEY, extra_env=FAST) as running:
        yield running


@pytest.fixture
def api(stack: DevStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30) as c:
        yield c


def finished(api: httpx.Client, sweep_id: str, timeout_s: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sweep: dict[str, Any] = api.get(f"/v1/sweeps/{sweep_id}").json()
        if sweep["status"] != "running":
            return sweep
        time.sleep(0.5)
    raise TimeoutError(sweep)


def epochs_trained(api: httpx.Client, sweep: dict[str, Any]) -> int:
    """Epochs every trial recorded, counted from their metrics (not from what the sweep says)."""
    total = 0
    for trial in sweep["trials"]:
        rows = api.get(f"/v1/runs/{trial['run_id']}/metrics", params={"key": "val_accuracy"}).json()
        total += len({row["epoch"] for row in rows})
    return total


def test_bayes_hyperband_finds_a_good_run_and_saves_epochs(api: httpx.Client) -> None:
    with_et = copy.deepcopy(SWEEP) | {"early_terminate": {"type": "hyperband", "min_iter": 1, "eta": 3}}
    created = api.post("/v1/sweeps", json=with_et)
    assert created.status_code == 202, created.text
    pruned_sweep = finished(api, created.json()["id"])
    assert pruned_sweep["status"] == "finished", pruned_sweep
    assert len(pruned_sweep["trials"]) == 12
    assert pruned_sweep["best_metric"] >= 0.95
    best = api.get(f"/v1/runs/{pruned_sweep['best_run_id']}").json()
    assert best["status"] == "succeeded"
    assert best["best_metrics"]["val_accuracy"] == pruned_sweep["best_metric"]
    pruned = [t for t in pruned_sweep["trials"] if t["status"] == "pruned"]
    assert pruned, pruned_sweep["trials"]
    run = api.get(f"/v1/runs/{pruned[0]['run_id']}").json()
    assert "hyperband" in run["error"]
    assert run["progress"]["epoch"] < EPOCHS
    assert {t["status"] for t in pruned_sweep["trials"]} <= {"succeeded", "pruned"}

    plain = api.post("/v1/sweeps", json=copy.deepcopy(SWEEP) | {"name": "no-early-termination"})
    plain_sweep = finished(api, plain.json()["id"])
    assert plain_sweep["status"] == "finished"
    assert all(t["status"] == "succeeded" for t in plain_sweep["trials"])
    assert epochs_trained(api, pruned_sweep) < epochs_trained(api, plain_sweep) == 12 * EPOCHS


def test_a_sweep_keeps_going_across_a_killed_worker(api: httpx.Client, stack: DevStack) -> None:
    keeps_going_across_a_killed_worker(api, stack)


@pytest.fixture(params=["postgres+redis"])
def pg_stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DevStack]:
    """PostgreSQL + Redis (when CI gives them): the driver's compare-and-set on a real server."""
    # A longer lease than FAST's: on a loaded machine, loading a run can outlast 5 s before training
    # starts renewing it, and each expiry spends an attempt.
    yield from running_stack(request, tmp_path, FAST | {"DEEPFEAT_LEASE_SECONDS": "20"})


def test_a_sweep_keeps_going_across_a_killed_worker_on_postgres_redis(pg_stack: DevStack) -> None:
    with httpx.Client(
        base_url=pg_stack.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
    ) as api:
        keeps_going_across_a_killed_worker(api, pg_stack)


def keeps_going_across_a_killed_worker(api: httpx.Client, stack: DevStack) -> None:
    sweep = copy.deepcopy(SWEEP) | {"method": "random", "run_cap": 3, "parallelism": 1}
    sweep["base"]["model"]["hidden"] = [2048, 2048]  # slow enough to be killed mid-trial
    sweep["base"]["training"]["epochs"] = 4
    sweep["parameters"] = {
        "training.optimizer.lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-2}
    }
    sweep_id = api.post("/v1/sweeps", json=sweep).json()["id"]
    deadline = time.monotonic() + 120
    while api.get(f"/v1/sweeps/{sweep_id}").json()["trials"][0]["epochs"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    stack.kill_worker()
    stack.start_worker()
    done = finished(api, sweep_id)
    assert done["status"] == "finished", done
    errors = [api.get(f"/v1/runs/{t['run_id']}").json()["error"] for t in done["trials"]]
    assert [t["status"] for t in done["trials"]] == ["succeeded"] * 3, errors


def test_cli_create_follow_show_list_cancel(stack: DevStack, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEEPFEAT_")}
    env |= {"DEEPFEAT_URL": stack.url, "DEEPFEAT_API_KEY": ADMIN_KEY, "COLUMNS": "200"}
    config = copy.deepcopy(SWEEP) | {"name": "cli-grid", "method": "grid", "run_cap": None}
    config["base"]["training"]["epochs"] = 2
    config["parameters"] = {"training.optimizer.lr": {"values": [0.01, 0.003]}}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "deepfeat.cli", "sweeps", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )

    followed = cli("create", str(path), "--follow")
    assert followed.returncode == 0, followed.stderr
    assert "finished" in followed.stdout
    sweep_id = cli("list", "--json")
    listed = json.loads(sweep_id.stdout)
    mine = next(s for s in listed if s["name"] == "cli-grid")
    shown = cli("show", mine["id"])
    assert shown.returncode == 0
    assert "0.01" in shown.stdout
    assert "0.003" in shown.stdout
    assert mine["best_run_id"] in shown.stdout
    refused = cli("cancel", mine["id"])
    assert refused.returncode != 0
    assert "already finished" in refused.stderr
    bad = path.with_name("bad.yaml")
    bad.write_text(yaml.safe_dump(config | {"parameters": {"training.nope": {"values": [1]}}}))
    rejected = cli("create", str(bad))
    assert rejected.returncode != 0
    assert "/parameters/training.nope" in rejected.stderr
