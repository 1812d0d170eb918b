"""Worker heartbeats with real processes, on each backend: a started worker appears with its device and
queues, is counted by `/metrics`, and removes itself when stopped cleanly."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from deepfeat.devstack import DevStack

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
