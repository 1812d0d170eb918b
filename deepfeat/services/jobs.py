"""What the API does alike to every leased job (runs, extraction jobs): find one of the project's, and
ask one to stop. What a kind adds (a run's status event and cancel flag file) stays in its service."""

from __future__ import annotations

from typing import TypeVar

from deepfeat.db.models import LeasedJob
from deepfeat.db.types import utcnow
from deepfeat.errors import Conflict, NotFound
from deepfeat.specs.runs import TERMINAL_STATUSES

J = TypeVar("J", bound=LeasedJob)


def found(job: J | None, noun: str, job_id: str) -> J:
    """The job the project's repository found, or NotFound naming it (`noun`: `run`, `extraction`)."""
    if job is None:
        raise NotFound(f"{noun} {job_id!r} not found")
    return job


def request_cancel(job: LeasedJob, noun: str) -> None:
    """A queued job ends at once (nothing to wind down); a running one becomes `cancelling`, and its
    worker stops it at its next check of the flag. Conflict if it already ended."""
    if job.status in TERMINAL_STATUSES:
        raise Conflict(f"{noun} {job.id} is already {job.status}")
    job.cancel_requested = True
    if job.status == "queued":
        job.status, job.finished_at = "cancelled", utcnow()
    else:
        job.status = "cancelling"
