"""`deepfeat api --workers N`: N gateway processes on one port, each starting cleanly on a fresh database
with the bootstrap key set, and answering."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from deepfeat.devstack import free_port
from tests.helpers.env import ADMIN_KEY


def test_api_workers_2_starts_two_processes_that_serve(tmp_path: Path) -> None:
    env = {**os.environ, "DEEPFEAT_DATA_DIR": str(tmp_path / "var"), "DEEPFEAT_BOOTSTRAP_KEY": ADMIN_KEY}
    env.pop("DEEPFEAT_DATABASE_URL", None)
    env.pop("DEEPFEAT_BROKER_URL", None)
    subprocess.run(
        [sys.executable, "-m", "deepfeat.cli", "migrate"], env=env, check=True, capture_output=True
    )
    port = free_port()
    log_path = tmp_path / "api.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "deepfeat.cli", "api", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while log_path.read_text().count("Application startup complete") < 2:
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        for _ in range(10):
            answer = httpx.get(f"http://127.0.0.1:{port}/v1/runs", headers=headers, timeout=10)
            assert answer.status_code == 200, answer.text
        text = log_path.read_text()
        assert "Traceback" not in text, text
        assert text.count("Started server process") == 2, text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
