"""The reaper: nothing queued or running is ever lost.

- A run whose lease expired (its worker was killed, its machine died) is requeued, counting the attempt;
  past the attempt cap it fails with the reason; if a cancel was asked for, it ends cancelled.
- A run queued for long with no activity gets its message sent again (the broker may have lost it, e.g.
  a Redis restart without persistence). A duplicate message is harmless: the claim lets one through.

Extraction jobs (their own table) get the same treatment in `reap_extractions`: an expired lease is
requeued (the job restarts from row 0) up to the attempt cap, then failed; a stale queued one is resent
by its own task. Nothing running stays `running` forever.

Every change is a conditional UPDATE, so any number of reapers (one per worker) can run at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from deepfeat.config import Settings
from deepfeat.db.models import Run
from deepfeat.db.repositories.extractions import ExtractionLeases
from deepfeat.db.repositories.fencing import FencedLeases, Leased, lost_worker_error
from deepfeat.db.repositories.leases import LeaseRepository
from deepfeat.db.session import unit_of_work
from deepfeat.db.types import utcnow
from workers.runner import Enqueue, sessions_for
from workers.sweeps import advance_every_sweep

log = logging.getLogger(__name__)


def reap_once(settings: Settings, enqueue: Enqueue) -> dict[str, int]:
    """One pass over runs; returns what it did, by action."""
    now = utcnow()
    with unit_of_work(sessions_for(settings)) as session:
        leases = LeaseRepository(session)
        counts, resend, ended = _settle_expired(leases, now, lambda run: _settle(leases, run, now))
        for project_id in sorted({run.project_id for run in ended}):  # a slot under the cap is free
            for run_id, device in leases.startable(project_id, settings.max_concurrent_runs_per_project):
                leases.touch(run_id)
                resend.append((run_id, device))
        _resend_stale(leases, settings, now, counts, resend)
    _send(resend, enqueue, counts, "reaper")
    return counts


def _settle(leases: LeaseRepository, run: Run, now: datetime) -> str | None:
    """Settle a run whose lease expired, and say what happened in its event log."""
    action = leases.settle_expired(run, now)
    if action == "cancelled":
        leases.add_event(run.id, "status", "cancelled (its worker was lost)", data={"status": "cancelled"})
    elif action == "failed":
        error = lost_worker_error(run.attempt, run.max_attempts)
        leases.add_event(run.id, "status", f"failed: {error}", level="error", data={"status": "failed"})
    elif action == "requeued":
        leases.add_event(
            run.id,
            "status",
            f"requeued: the worker of attempt {run.attempt} stopped answering",
            level="warning",
            data={"status": "queued", "reason": "lease_expired"},
        )
    return action


def reap_extractions(settings: Settings, enqueue: Enqueue) -> dict[str, int]:
    """One pass over extraction jobs (`enqueue` sends an extraction id); returns what it did."""
    now = utcnow()
    with unit_of_work(sessions_for(settings)) as session:
        leases = ExtractionLeases(session)
        counts, resend, _ = _settle_expired(leases, now, lambda job: leases.settle_expired(job, now))
        _resend_stale(leases, settings, now, counts, resend)
    _send(resend, enqueue, counts, "reaper (extractions)")
    return counts


def _settle_expired(
    leases: FencedLeases[Leased], now: datetime, settle: Callable[[Leased], str | None]
) -> tuple[dict[str, int], list[tuple[str, str]], list[Leased]]:
    """Settle every job whose lease expired: the counts by action, the (id, device) to send again
    (requeued), and the jobs that ended (cancelled or failed)."""
    counts = dict.fromkeys(("requeued", "failed", "cancelled", "resent"), 0)
    resend: list[tuple[str, str]] = []
    ended: list[Leased] = []
    for job in leases.expired(now):
        action = settle(job)
        if action is None:
            continue
        counts[action] += 1
        if action == "requeued":
            resend.append((job.id, job.device))
        else:
            ended.append(job)
    return counts, resend, ended


def _resend_stale(
    leases: FencedLeases[Leased],
    settings: Settings,
    now: datetime,
    counts: dict[str, int],
    resend: list[tuple[str, str]],
) -> None:
    """Queued jobs untouched for long: their message may be lost with the broker's memory."""
    for job_id, device in leases.stale_queued(now - timedelta(seconds=settings.requeue_queued_after_s)):
        leases.touch(job_id)
        resend.append((job_id, device))
        counts["resent"] += 1


def _send(resend: list[tuple[str, str]], enqueue: Enqueue, counts: dict[str, int], what: str) -> None:
    for job_id, device in resend:  # after the commit, like every enqueue
        enqueue(job_id, device)
    if any(counts.values()):
        log.info("%s: %s", what, counts)


class Reaper(threading.Thread):
    """Runs `reap_once` (and `reap_extractions`, given its enqueue) every `reaper_interval_s` in the
    worker's main process until stopped."""

    def __init__(
        self,
        settings: Settings,
        enqueue: Enqueue,
        enqueue_extraction: Callable[[str, str], None] | None = None,
    ) -> None:
        super().__init__(name="deepfeat-reaper", daemon=True)
        self.settings, self.enqueue, self.enqueue_extraction = settings, enqueue, enqueue_extraction
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.settings.reaper_interval_s):
            try:
                reap_once(self.settings, self.enqueue)
                if self.enqueue_extraction is not None:
                    reap_extractions(self.settings, self.enqueue_extraction)
                advance_every_sweep(sessions_for(self.settings), self.settings, self.enqueue)
            except Exception:
                log.exception("reaper pass failed; trying again next interval")
