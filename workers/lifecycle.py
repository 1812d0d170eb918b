"""One leased job's lifecycle, for every kind of job (runs, extraction jobs, and what comes next): claim
or skip, then end it (finish, with or without the files it wrote) or hand it back (requeue).

Generic over the job's fenced repository (`deepfeat/db/repositories/fencing.py`): every write names the
attempt, so an attempt that lost its lease changes nothing, and each function says whether its write
landed. Each step is one transaction (`unit_of_work`), so the `after_commit` callbacks it registers run
once it is durable (a requeued job's message is sent then) and are dropped if it is not. What a kind
adds (a run's status events) comes in as `then`, written in the same transaction as the fenced change.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from deepfeat.db.models import Artifact
from deepfeat.db.repositories.fencing import FencedLeases
from deepfeat.db.session import after_commit, commit, rollback, unit_of_work
from deepfeat.ids import new_id
from deepfeat.services.runs import Enqueue
from deepfeat.storage import ArtifactStore

L = TypeVar("L", bound=FencedLeases[Any])

# Set by the worker process's SIGTERM handler (workers/tasks.py): finish the step, requeue, exit.
PREEMPT = threading.Event()


class LeaseLost(Exception):
    """Another attempt owns the job now (our lease expired); stop without writing anything else."""


class Preempted(Exception):
    """The worker is shutting down: the job goes back to the queue (a run resumes from its checkpoint)."""


def claim_or_skip(
    leases: L,
    job_id: str,
    claim: Callable[[], int | None],
    enqueue: Enqueue,
    log: logging.Logger,
    *,
    started: Callable[[int], None] | None = None,
    waiting: str | None = None,
) -> int | None:
    """Claim the job for this worker (`claim` is its kind's fenced claim) and commit: the attempt
    number. None when it is not this worker's to run: the worker is shutting down (a queued job is sent
    again for another worker), or the claim was refused. A refused job still queued was held back by
    `claim`'s own condition, which `waiting` explains in the log; otherwise it ended, is unknown, or a
    live worker holds it (a duplicate delivery). `started` writes what the claim adds, in its transaction."""
    if PREEMPT.is_set():
        job = leases.get(job_id)
        if job is not None and job.status == "queued":
            enqueue(job_id, job.device)
        return None
    attempt = claim()
    if attempt is None:
        rollback(leases.session)
        job = leases.get(job_id) if waiting is not None else None
        if job is not None and job.status == "queued":
            log.info("%s %s %s", _noun(leases), job_id, waiting)
        else:
            log.info("%s %s not claimable; skipping", _noun(leases), job_id)
        return None
    if started is not None:
        started(attempt)
    commit(leases.session)
    return attempt


@dataclass(frozen=True)
class Outputs:
    """The files a job leaves: each (name, media type, content), the content as bytes or as a finished
    file in `store.tmp_dir` (adopted, so consumed)."""

    store: ArtifactStore
    project_id: str
    files: Sequence[tuple[str, str, bytes | Path]]


def store_artifact(
    leases: FencedLeases[Any],
    store: ArtifactStore,
    job_id: str,
    project_id: str,
    name: str,
    media_type: str,
    content: bytes | Path,
) -> None:
    """Put one file of the job into the store and record its artifact row (replacing one of the same
    name), in the caller's transaction."""
    blob = store.adopt(content) if isinstance(content, Path) else store.put_bytes(content)
    artifact = Artifact(
        id=new_id("art"),
        project_id=project_id,
        name=name,
        media_type=media_type,
        path=blob.key,
        sha256=blob.sha256,
        size_bytes=blob.size_bytes,
    )
    setattr(artifact, leases.artifact_owner.key, job_id)
    leases.add_artifact(artifact)


def finish(
    sessions: sessionmaker[Session],
    leases_of: Callable[[Session], L],
    job_id: str,
    attempt: int,
    status: str,
    *,
    error: str | None = None,
    progress: dict[str, Any] | None = None,
    values: Mapping[str, Any] | None = None,
    outputs: Outputs | None = None,
    then: Callable[[L], None] | None = None,
) -> bool:
    """End the job for this attempt with `status` (and `values`, columns of its kind), storing and
    recording its `outputs` first: all of it in one transaction, or none of it (no artifact row) if
    the attempt no longer holds the job. True if it ended."""
    with unit_of_work(sessions) as session:
        leases = leases_of(session)
        if outputs is not None:
            for name, media_type, content in outputs.files:
                store_artifact(leases, outputs.store, job_id, outputs.project_id, name, media_type, content)
        if not leases.finish(job_id, attempt, status, error=error, progress=progress, values=values):
            rollback(session)
            return False
        if then is not None:
            then(leases)
    return True


def requeue(
    sessions: sessionmaker[Session],
    leases_of: Callable[[Session], L],
    job_id: str,
    attempt: int,
    device: str,
    enqueue: Enqueue,
    *,
    count_attempt: bool,
    then: Callable[[L], None] | None = None,
) -> bool:
    """Hand the job this attempt holds back to the queue, and send its message once that is committed.
    A preemption does not count against the attempt cap (`count_attempt=False`); a lost rank does.
    True if it was requeued."""
    with unit_of_work(sessions) as session:
        leases = leases_of(session)
        if not leases.requeue(job_id, attempt, count_attempt=count_attempt):
            return False
        if then is not None:
            then(leases)
        after_commit(session, lambda: enqueue(job_id, device))
    return True


def _noun(leases: FencedLeases[Any]) -> str:
    """What log lines call a job of this kind: `run`, `extraction`."""
    return str(leases.model.__name__).lower()
