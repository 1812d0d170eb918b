"""Waiting on a live stack's runs, and the settings that make its recovery fast."""

from __future__ import annotations

import time
from typing import Any

import httpx


def wait_for(api: httpx.Client, run_id: str, timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run: dict[str, Any] = api.get(f"/v1/runs/{run_id}").json()
        if run["status"] in ("succeeded", "failed", "cancelled"):
            return run
        time.sleep(0.2)
    raise TimeoutError(f"run {run_id} still {run['status']} after {timeout_s}s")


# Short leases and a busy reaper so a lost worker is noticed in seconds, not minutes.
FAST_RECOVERY = {
    "DEEPFEAT_LEASE_SECONDS": "5",
    "DEEPFEAT_HEARTBEAT_SECONDS": "0.5",
    "DEEPFEAT_REAPER_INTERVAL_S": "0.5",
    "DEEPFEAT_REQUEUE_QUEUED_AFTER_S": "2",
}


# About a second per epoch on one core: slow enough to hit mid-run.
SLOW: dict[str, Any] = {
    "dataset": "builtin:digits",
    "task": "classification",
    "model": {"type": "mlp", "hidden": [2048, 2048]},
    "training": {"epochs": 10, "batch_size": 32, "optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9}},
}


def wait_until(api: httpx.Client, run_id: str, predicate: Any, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run: dict[str, Any] = api.get(f"/v1/runs/{run_id}").json()
        if predicate(run):
            return run
        time.sleep(0.1)
    raise TimeoutError(f"{run_id}: {run}")


def metric_epochs(api: httpx.Client, run_id: str) -> list[int]:
    return [m["epoch"] for m in api.get(f"/v1/runs/{run_id}/metrics", params={"key": "loss"}).json()]
