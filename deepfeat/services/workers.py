"""Which workers are online, as one project may see them (the API, the dashboard and `/metrics`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from deepfeat.config import Settings
from deepfeat.db.repositories.workers import WorkerRepository, WorkerView, stale_after


def online_workers(session: Session, project_id: str | None, settings: Settings) -> list[WorkerView]:
    """Workers heard from within a few heartbeats; a busy one names its run only to the run's project."""
    return WorkerRepository(session).online(project_id, stale_after(settings.heartbeat_seconds))


def count_online(session: Session, settings: Settings) -> int:
    return WorkerRepository(session).count_online(stale_after(settings.heartbeat_seconds))


def queue_for(session: Session, device: str, settings: Settings) -> str:
    """The queue a run of `device` goes to: `gpu` and `cpu` as asked; `auto` to `gpu` while a live worker
    consumes the gpu queue with a GPU, else `cpu` (a run queued on `gpu` with no GPU worker would wait)."""
    if device != "auto":
        return "gpu" if device == "gpu" else "cpu"
    live = online_workers(session, None, settings)
    has_gpu = any("gpu" in w.queues and (w.gpus or w.device == "cuda") for w in live)
    return "gpu" if has_gpu else "cpu"
