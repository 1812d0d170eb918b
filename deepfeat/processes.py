"""Starting deepfeat's processes: the command lines for the API and a worker, and `up` which runs both.

The CLI launches them as child programs rather than importing the gateway or Celery, so the core keeps
its import direction (deepfeat never imports service/ or workers/).
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from deepfeat.config import Settings
from deepfeat.cores import api_process_threads, available_cores


def port_problem(host: str, port: int) -> str | None:
    """Why the API could not listen on `host:port` (e.g. another server has it), or None when it can."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            sock.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return f"port {port} is in use"
        return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def api_command(host: str, port: int, workers: int = 1) -> list[str]:
    """uvicorn serving the gateway; `workers` > 1 runs that many processes on one port (for machines
    with cores to spare: one Python process serves ~1 core of requests)."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "service.asgi:app",
        "--host",
        host,
        "--port",
        str(port),
        "--no-access-log",
        *(["--workers", str(workers)] if workers > 1 else []),
    ]


def api_env(workers: int, environ: Mapping[str, str]) -> dict[str, str]:
    """What `deepfeat api --workers N` adds to the environment of its processes: each one's share of the
    cores for inference (cores.py), unless DEEPFEAT_INFERENCE_THREADS is set already."""
    if workers <= 1 or environ.get("DEEPFEAT_INFERENCE_THREADS"):
        return {}
    return {"DEEPFEAT_INFERENCE_THREADS": str(api_process_threads(workers, available_cores()))}


def worker_command(queues: str, concurrency: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.celery_app",
        "worker",
        "-Q",
        queues,
        "--concurrency",
        str(concurrency),
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        "--hostname",
        f"deepfeat-{os.getpid()}@%h",
    ]


def default_queues() -> str:
    """`cpu`, plus `gpu` when this machine has CUDA (asked in a child, never in the worker parent)."""
    probe = subprocess.run(
        [sys.executable, "-c", "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"],
        check=False,
        capture_output=True,
    )
    return "cpu,gpu" if probe.returncode == 0 else "cpu"


_DEVICE_PROBE = (
    "import json, os, torch\n"
    "if torch.cuda.is_available():\n"
    "    names = sorted({torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())})\n"
    "    n = torch.cuda.device_count()\n"
    "    print(json.dumps(['cuda', (f'{n}x ' if n > 1 else '') + ', '.join(names), n]))\n"
    "else:\n"
    "    print(json.dumps(['cpu', f'cpu ({os.cpu_count()} cores)', 0]))\n"
)


class Device(NamedTuple):
    kind: str  # cpu | cuda
    name: str
    gpus: int = 0


def probe_device(timeout_s: float = 120.0) -> Device:
    """(`cpu` | `cuda`, a readable name) of this machine, asked in a child: a worker's parent process
    must never initialise CUDA (its forked pool children could not use it afterwards)."""
    try:
        probe = subprocess.run(
            [sys.executable, "-c", _DEVICE_PROBE],
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        kind, name, gpus = json.loads(probe.stdout.strip().splitlines()[-1])
        return Device(str(kind), str(name), int(gpus))
    except (subprocess.SubprocessError, ValueError, IndexError, OSError):
        return Device("cpu", f"cpu ({os.cpu_count()} cores; device probe failed)")


def admin_key(settings: Settings) -> str:
    """The key `up` prints: the env's bootstrap key, or one made on first start and kept in the data dir."""
    if settings.bootstrap_key is not None:
        return settings.bootstrap_key.get_secret_value()
    path = settings.admin_key_file
    if path.exists():
        return path.read_text().strip()
    key = "df_" + secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


@dataclass
class Plan:
    """How `up` shares the cores: the worker trains, the API only validates specs for now."""

    worker_threads: int
    api_threads: int


def thread_plan(cpus: int | None = None) -> Plan:
    cpus = cpus or os.cpu_count() or 1
    return Plan(worker_threads=max(1, cpus - 1), api_threads=1)


class Supervisor:
    """Runs the API and a worker until Ctrl-C/SIGTERM or until either exits; then stops both."""

    def __init__(
        self, commands: dict[str, tuple[list[str], dict[str, str]]], cwd: Path | None = None
    ) -> None:
        self.commands = commands
        self.cwd = cwd
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.stopping = False
        self.crashed = False  # a child exited by itself: the stop was not asked for

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for name, (argv, env) in self.commands.items():
                self.children[name] = subprocess.Popen(argv, env=env, cwd=self.cwd)
            while not self.stopping:
                for name, child in self.children.items():
                    if child.poll() is not None:
                        print(
                            f"deepfeat: {name} exited with code {child.returncode}; stopping", file=sys.stderr
                        )
                        self.stopping = self.crashed = True
                        break
                time.sleep(0.2)
            return self._stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.stopping = True

    def _stop(self, grace_s: float = 20.0) -> int:
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        killed = False
        for child in self.children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
                killed = True
        # Asked to stop (Ctrl-C, SIGTERM), the children's own codes say only how they took SIGTERM (a
        # worker still booting may answer 1): the stop failed if one crashed first or had to be killed.
        return 1 if self.crashed or killed else 0
