"""A local deepfeat (migrated DB, API, one worker) in the background, for end-to-end tests and benchmarks.

Real processes started from the same command lines `deepfeat up` uses; nothing is mocked.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from deepfeat.processes import api_command, api_env, worker_command


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class DevStack:
    data_dir: Path
    key: str
    database_url: str | None = None
    broker_url: str | None = None
    port: int = field(default_factory=free_port)
    worker: bool = True
    worker_concurrency: int = 1
    api_workers: int = 1  # uvicorn processes on the port, as `deepfeat api --workers N` runs them
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "DEEPFEAT_DATA_DIR": str(self.data_dir),
            "DEEPFEAT_BOOTSTRAP_KEY": self.key,
            "DEEPFEAT_TORCH_THREADS": "1",
            "DEEPFEAT_WORKER_CONCURRENCY": str(self.worker_concurrency),
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        env.update(api_env(self.api_workers, env))
        for name, value in (
            ("DEEPFEAT_DATABASE_URL", self.database_url),
            ("DEEPFEAT_BROKER_URL", self.broker_url),
        ):
            if value:
                env[name] = value
            else:
                env.pop(name, None)
        return env

    def log(self, name: str) -> str:
        path = self.data_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, timeout_s: float = 60.0) -> DevStack:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "deepfeat.cli", "migrate"], env=self.env, check=True, capture_output=True
        )
        self._spawn("api", api_command("127.0.0.1", self.port, self.api_workers))
        if self.worker:
            self._spawn("worker", worker_command("cpu", self.worker_concurrency))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._check_alive()
            if self._api_ready() and (not self.worker or " ready." in self.log("worker")):
                return self
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"stack not ready in {timeout_s}s:\n{self.log('api')}\n{self.log('worker')}")

    def _spawn(self, name: str, argv: list[str]) -> None:
        # Own process group: a test can kill a worker with its pool children, as a dying machine would.
        with (self.data_dir / f"{name}.log").open("ab") as out:
            self.processes[name] = subprocess.Popen(
                argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def _api_ready(self) -> bool:
        """/readyz answers 200, on fresh connections several times in a row when several processes
        share the port (each loads its own encoders; which one accepts a connection is the kernel's
        choice)."""
        try:
            return all(
                httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
                for _ in range(1 if self.api_workers == 1 else 4 * self.api_workers)
            )
        except httpx.HTTPError:
            return False

    def _check_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.log(name)}")

    def kill_worker(self) -> None:
        """SIGKILL the worker and its pool children at once: no cleanup, no ack, no goodbye."""
        proc = self.processes["worker"]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop_worker(self, timeout_s: float = 60) -> int:
        """SIGTERM, as an orchestrator scaling down would send; returns the exit code."""
        proc = self.processes["worker"]
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=timeout_s)

    def start_worker(self, timeout_s: float = 60) -> None:
        ready_before = self.log("worker").count(" ready.")
        self._spawn("worker", worker_command("cpu", self.worker_concurrency))
        deadline = time.monotonic() + timeout_s
        while self.log("worker").count(" ready.") <= ready_before:
            self._check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(self.log("worker"))
            time.sleep(0.1)

    def stop(self) -> dict[str, int]:
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = {}
        for name, proc in self.processes.items():
            try:
                codes[name] = proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[name] = proc.wait()
        return codes

    def __enter__(self) -> DevStack:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()
