"""Worker heartbeats: each worker upserts its row; readers see the workers heard from recently.

Workers are shared infrastructure, so every project sees every worker (name, device, queues, state).
What a busy worker trains is named only to the project that owns that run: tenancy is decided here,
from the caller's project id, as in the other repositories.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from deepfeat.cores import pool_threads
from deepfeat.db.models import Run, Worker
from deepfeat.db.types import utcnow

ACTIVE = ("running", "cancelling")
# A worker not heard from for this many heartbeats is taken for dead (one late beat is not enough).
STALE_HEARTBEATS = 3


@dataclass(frozen=True)
class Slot:
    """One pool process of a worker and the device its GPU work uses (deepfeat/gpus.py)."""

    index: int | None
    process: str  # its lease owner name (`host:pid`), as in `processes`
    device: str  # `cpu` or `cuda:k`
    gpu: str | None = None  # the GPU as CUDA_VISIBLE_DEVICES names it
    threads: int | None = None  # its torch threads (None: a worker from before they were kept)


@dataclass(frozen=True)
class SlotView:
    """A slot as a project may see it: busy with its run, named only when the run is the project's."""

    index: int | None
    pid: int | None
    device: str
    gpu: str | None
    busy: bool
    run_id: str | None

    @property
    def state(self) -> str:
        return "busy" if self.busy else "idle"


@dataclass(frozen=True)
class WorkerBeat:
    """What a worker says about itself each beat."""

    id: str
    hostname: str
    pid: int
    device: str
    device_name: str
    queues: list[str]
    concurrency: int
    processes: list[str]
    cpu_cores: int | None = None
    gpus: int | None = None
    slots: tuple[Slot, ...] = ()


@dataclass(frozen=True)
class WorkerView:
    """One online worker as a project may see it. `busy` with `run_id` None: a run of another project."""

    id: str
    hostname: str
    pid: int
    device: str
    device_name: str
    queues: list[str]
    concurrency: int
    busy: bool
    run_id: str | None
    run_name: str | None
    started_at: datetime
    last_seen: datetime
    cpu_cores: int | None = None
    gpus: int | None = None
    slots: tuple[SlotView, ...] = ()

    @property
    def state(self) -> str:
        return "busy" if self.busy else "idle"


def stale_after(heartbeat_seconds: float) -> timedelta:
    return timedelta(seconds=STALE_HEARTBEATS * heartbeat_seconds)


class WorkerRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # --- the worker's side ---------------------------------------------------------------------------
    def beat(self, beat: WorkerBeat, now: datetime | None = None) -> None:
        """Insert or refresh this worker's row (one statement: no read-then-write race with itself)."""
        now = now or utcnow()
        values: dict[str, Any] = {
            "hostname": beat.hostname,
            "pid": beat.pid,
            "device": beat.device,
            "device_name": beat.device_name,
            "queues": beat.queues,
            "concurrency": beat.concurrency,
            "processes": beat.processes,
            "cpu_cores": beat.cpu_cores,
            "gpus": beat.gpus,
            "slots": [asdict(slot) for slot in beat.slots],
            "last_seen": now,
        }
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(Worker).values(id=beat.id, started_at=now, **values)
        self.session.execute(statement.on_conflict_do_update(index_elements=[Worker.id], set_=values))

    def remove(self, worker_id: str) -> None:
        """A clean shutdown: the worker says goodbye rather than waiting to look stale."""
        self.session.execute(delete(Worker).where(Worker.id == worker_id))

    def prune(self, older_than: datetime) -> int:
        """Forget workers silent since `older_than` (killed ones never say goodbye)."""
        result = self.session.execute(delete(Worker).where(Worker.last_seen < older_than))
        return int(getattr(result, "rowcount", 0) or 0)

    # --- readers ------------------------------------------------------------------------------------
    def online(
        self, project_id: str | None, stale: timedelta, now: datetime | None = None
    ) -> list[WorkerView]:
        """Workers heard from within `stale`, by name, each with its current run if it is training.

        A run counts as the worker's while one of its pool processes holds an unexpired lease on it;
        the run is named only when it belongs to `project_id`."""
        now = now or utcnow()
        workers = self.session.scalars(
            select(Worker).where(Worker.last_seen >= now - stale).order_by(Worker.id)
        ).all()
        owners = {owner for w in workers for owner in w.processes}
        runs = self._leased(owners, now)
        views = []
        for w in workers:
            current = next((runs[o] for o in w.processes if o in runs), None)
            mine = current is not None and current.project_id == project_id
            slots = tuple(
                _slot_view(slot, runs.get(slot.get("process", "")), project_id) for slot in w.slots or []
            )
            views.append(
                WorkerView(
                    id=w.id,
                    hostname=w.hostname,
                    pid=w.pid,
                    device=w.device,
                    device_name=w.device_name,
                    queues=list(w.queues),
                    concurrency=w.concurrency,
                    busy=current is not None,
                    run_id=current.id if mine and current else None,
                    run_name=current.name if mine and current else None,
                    started_at=w.started_at,
                    last_seen=w.last_seen,
                    cpu_cores=w.cpu_cores,
                    gpus=w.gpus,
                    slots=slots,
                )
            )
        return views

    def threads_on(self, hostname: str, stale: timedelta, now: datetime | None = None) -> int | None:
        """Torch threads the live workers of `hostname` hold (None: no live worker there). A worker from
        before slots kept their threads counts a fair share of its cores per pool process."""
        now = now or utcnow()
        workers = self.session.scalars(
            select(Worker).where(Worker.hostname == hostname, Worker.last_seen >= now - stale)
        ).all()
        if not workers:
            return None
        taken = 0
        for w in workers:
            share = pool_threads(None, w.concurrency, w.cpu_cores)
            slots = w.slots or [{} for _ in range(max(w.concurrency, 1))]
            taken += sum(slot.get("threads") or share for slot in slots)
        return taken

    def count_online(self, stale: timedelta, now: datetime | None = None) -> int:
        now = now or utcnow()
        query = select(func.count()).select_from(Worker).where(Worker.last_seen >= now - stale)
        return int(self.session.scalar(query) or 0)

    def _leased(self, owners: set[str], now: datetime) -> dict[str, Run]:
        if not owners:
            return {}
        rows: Sequence[Run] = self.session.scalars(
            select(Run).where(
                Run.status.in_(ACTIVE), Run.lease_owner.in_(sorted(owners)), Run.lease_expires_at >= now
            )
        ).all()
        return {r.lease_owner: r for r in rows if r.lease_owner}


def _slot_view(slot: dict[str, Any], run: Run | None, project_id: str | None) -> SlotView:
    process = str(slot.get("process", ""))
    pid = process.rpartition(":")[2]
    index = slot.get("index")
    return SlotView(
        index=index if isinstance(index, int) else None,
        pid=int(pid) if pid.isdigit() else None,
        device=str(slot.get("device", "cpu")),
        gpu=None if slot.get("gpu") is None else str(slot["gpu"]),
        busy=run is not None,
        run_id=run.id if run is not None and run.project_id == project_id else None,
    )
