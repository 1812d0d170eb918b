"""The API binds 127.0.0.1 unless told otherwise: the CLI's defaults, and the real process's socket."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import typer.main

from deepfeat.cli import app
from deepfeat.devstack import free_port


def test_api_and_up_default_to_loopback() -> None:
    command = typer.main.get_command(app)
    assert isinstance(command, typer.main.TyperGroup)
    for name in ("api", "up"):
        host = next(p for p in command.commands[name].params if p.name == "host")
        assert host.default == "127.0.0.1", name


def _listening(port: int) -> set[str]:
    """Local addresses (hex, as the kernel writes them) of TCP sockets listening on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's socket table")
def test_the_api_process_listens_on_loopback_only(tmp_path: Path) -> None:
    env = {**os.environ, "DEEPFEAT_DATA_DIR": str(tmp_path / "var")}
    env.pop("DEEPFEAT_DATABASE_URL", None)
    env.pop("DEEPFEAT_BROKER_URL", None)
    subprocess.run(
        [sys.executable, "-m", "deepfeat.cli", "migrate"], env=env, check=True, capture_output=True
    )
    port = free_port()
    log = (tmp_path / "api.log").open("wb")
    proc = subprocess.Popen(  # no --host: the default
        [sys.executable, "-m", "deepfeat.cli", "api", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (tmp_path / "api.log").read_text()
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert _listening(port) == {"0100007F"}  # 127.0.0.1, and nothing else (no 0.0.0.0, no ::)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
