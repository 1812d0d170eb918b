"""The worker's heartbeat: a thread in the worker's main process that says "I am here" every
`heartbeat_seconds` (its `workers` row: device, queues, pool processes and the device each one uses,
last seen) and says goodbye on a clean shutdown. The dashboard, `GET /v1/workers` and the
`deepfeat_live_workers` gauge read these rows.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import timedelta

import billiard.process

from deepfeat.config import Settings
from deepfeat.cores import pool_threads
from deepfeat.db.repositories.workers import Slot, WorkerBeat, WorkerRepository, stale_after
from deepfeat.db.session import unit_of_work
from deepfeat.db.types import utcnow
from deepfeat.gpus import assign, pool_index
from deepfeat.processes import Device, probe_device
from workers.runner import lease_owner, sessions_for

log = logging.getLogger(__name__)
# Rows of workers that died without a goodbye are deleted after this long (readers already hide them
# after a few missed beats; keeping them a while helps whoever looks at the table after a crash).
FORGET_AFTER = timedelta(hours=1)


def pool_processes() -> list[str]:
    """Lease owners that can train for this worker: its pool children, or itself (solo/threads pool)."""
    children = sorted(c.pid for c in billiard.process.active_children() if c.pid)
    return [lease_owner(pid) for pid in children] or [lease_owner(os.getpid())]


def pool_slots(gpus: int, threads: int | None = None) -> tuple[Slot, ...]:
    """Each pool child's device, computed here as the child computes it for itself (deepfeat/gpus.py),
    from its pool index, the GPUs the probe counted and CUDA_VISIBLE_DEVICES (children inherit it), and
    its torch threads (deepfeat/cores.py), which the API on the same host leaves to it."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    children = sorted(
        ((getattr(c, "index", None), c.pid) for c in billiard.process.active_children() if c.pid),
        key=lambda child: (child[0] is None, child[0] or 0, child[1]),
    )
    if not children:  # solo/threads pool: the main process trains itself
        children = [(pool_index(), os.getpid())]
    slots = []
    for index, pid in children:
        device = assign(index, gpus, visible)
        slots.append(Slot(index, lease_owner(pid), device.device, device.gpu, threads))
    return tuple(slots)


class HeartbeatThread(threading.Thread):
    def __init__(self, settings: Settings, worker_id: str, queues: list[str], concurrency: int) -> None:
        super().__init__(name="deepfeat-heartbeat", daemon=True)
        self.settings = settings
        self.worker_id, self.queues, self.concurrency = worker_id, sorted(queues), concurrency
        self.stopped = threading.Event()
        self.device: Device | None = None

    def beat_once(self) -> None:
        if self.device is None:
            self.device = probe_device()
        beat = WorkerBeat(
            id=self.worker_id,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            device=self.device[0],
            device_name=self.device[1],
            queues=self.queues,
            concurrency=self.concurrency,
            processes=pool_processes(),
            cpu_cores=os.cpu_count(),
            gpus=self.device.gpus,
            slots=pool_slots(self.device.gpus, pool_threads(self.settings.torch_threads, self.concurrency)),
        )
        with unit_of_work(sessions_for(self.settings)) as session:
            repo = WorkerRepository(session)
            repo.beat(beat)
            repo.prune(utcnow() - max(FORGET_AFTER, stale_after(self.settings.heartbeat_seconds)))

    def run(self) -> None:
        while True:
            try:
                self.beat_once()
            except Exception:
                log.exception("heartbeat failed; trying again next beat")
            if self.stopped.wait(self.settings.heartbeat_seconds):
                return

    def goodbye(self, timeout_s: float = 5.0) -> None:
        """Stop beating and delete this worker's row: a clean shutdown is not a lost worker."""
        self.stopped.set()
        self.join(timeout_s)
        try:
            with unit_of_work(sessions_for(self.settings)) as session:
                WorkerRepository(session).remove(self.worker_id)
        except Exception:
            log.exception("could not remove this worker's heartbeat row; it goes stale by itself")
