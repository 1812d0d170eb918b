"""A pickled Celery message put on the broker is refused by the worker (JSON only), never unpickled,
and the worker goes on serving the next run."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from deepfeat.config import Settings
from deepfeat.devstack import DevStack
from tests.helpers.api import Marker
from tests.helpers.specs import MLP_SPEC
from workers.queue import TRAIN_TASK, make_celery


def test_a_pickled_message_is_dropped_unloaded(stack: DevStack, api: httpx.Client, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    sender = make_celery(Settings(data_dir=stack.data_dir, broker_url=stack.broker_url))
    # Straight onto the broker, as anyone who can reach it could: the task's name, a pickled argument.
    sender.send_task(TRAIN_TASK, args=[Marker(marker)], queue="cpu", serializer="pickle")
    run = api.post("/v1/runs", json={**MLP_SPEC, "training": {**MLP_SPEC["training"], "epochs": 1}}).json()
    deadline = time.monotonic() + 120
    while api.get(f"/v1/runs/{run['id']}").json()["status"] != "succeeded":
        assert time.monotonic() < deadline, stack.log("worker")
        time.sleep(0.2)
    log = stack.log("worker")
    assert "untrusted content" in log or "ContentDisallowed" in log, log
    assert not marker.exists()
