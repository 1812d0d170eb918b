"""`deepfeat up`: one command migrates, serves, trains, prints the key, and stops cleanly on SIGTERM."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from deepfeat.devstack import free_port

pytestmark = pytest.mark.e2e


def start_up(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env_clean = {k: v for k, v in __import__("os").environ.items() if not k.startswith("DEEPFEAT_")}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "deepfeat.cli", "up", "--port", str(port), "--data-dir", str(data_dir)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**env_clean, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"},
        )


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(log.read_text())


def test_up_serves_prints_a_kept_key_and_stops_on_sigterm(tmp_path: Path) -> None:
    data_dir, port, log = tmp_path / "var", free_port(), tmp_path / "up.log"
    url = f"http://127.0.0.1:{port}"
    proc = start_up(data_dir, port, log)
    try:
        wait_ready(url, proc, log)
        key = (data_dir / "admin.key").read_text().strip()
        assert (data_dir / "admin.key").stat().st_mode & 0o777 == 0o600
        output = log.read_text()
        assert url in output
        assert key in output
        headers = {"Authorization": f"Bearer {key}"}
        spec = {
            "dataset": "builtin:iris",
            "task": "classification",
            "model": {"type": "mlp", "hidden": [16]},
            "training": {"epochs": 2},
        }
        run = httpx.post(f"{url}/v1/runs", json=spec, headers=headers).json()
        deadline = time.monotonic() + 60
        while httpx.get(f"{url}/v1/runs/{run['id']}", headers=headers).json()["status"] != "succeeded":
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, log.read_text()
    children = subprocess.run(["pgrep", "-f", f"--port {port}"], capture_output=True, text=True).stdout
    assert children.strip() == ""

    # A second start keeps the same key and data.
    proc = start_up(data_dir, port, log)
    try:
        wait_ready(url, proc, log)
        assert re.search(re.escape(key), log.read_text())
        assert httpx.get(f"{url}/v1/runs", headers={"Authorization": f"Bearer {key}"}).json()["data"]
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, log.read_text()
