"""The reaper: nothing queued or running is ever lost.

- A run whose lease expired (its worker was killed, its machine died) is requeued, counting the attempt;
  past the attempt cap it fails with the reason; if a cancel was asked for, it ends cancelled.
- A run queued for long with no activity gets its message sent again (the broker may have lost it, e.g.
  a Redis restart without persistence). A duplicate message is harmless: the claim lets one through.

Every change is a conditional UPDATE, so any number of reapers (one per worker) can run at once.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from deepfeat.config import Settings
from deepfeat.db.models import Run
from deepfeat.db.repositories.leases import LeaseRepository
from deepfeat.db.types import utcnow
from workers.runner import Enqueue, sessions_for

log = logging.getLogger(__name__)


def reap_once(settings: Settings, enqueue: Enqueue) -> dict[str, int]:
    """One pass; returns what it did, by action."""
    counts = dict.fromkeys(("requeued", "failed", "cancelled", "resent"), 0)
    now = utcnow()
    resend: list[tuple[str, str]] = []
    with sessions_for(settings)() as session:
        leases = LeaseRepository(session)
        for run in leases.expired(now):
            action = _settle(leases, run, now)
            if action is not None:
                counts[action] += 1
                if action == "requeued":
                    resend.append((run.id, run.device))
        for run_id, device in leases.stale_queued(now - timedelta(seconds=settings.requeue_queued_after_s)):
            leases.touch(run_id)
            resend.append((run_id, device))
            counts["resent"] += 1
        session.commit()
    for run_id, device in resend:  # after the commit, like every enqueue
        enqueue(run_id, device)
    if any(counts.values()):
        log.info("reaper: %s", counts)
    return counts


def _settle(leases: LeaseRepository, run: Run, now: datetime) -> str | None:
    """Decide the fate of a run whose lease expired; None if it came back to life meanwhile."""
    if run.cancel_requested:
        if not leases.finish(run.id, run.attempt, "cancelled", expired_before=now):
            return None
        leases.add_event(run.id, "status", "cancelled (its worker was lost)", data={"status": "cancelled"})
        return "cancelled"
    if run.attempt >= run.max_attempts:
        error = f"worker lost: lease expired on attempt {run.attempt} of {run.max_attempts}"
        if not leases.finish(run.id, run.attempt, "failed", error=error, expired_before=now):
            return None
        leases.add_event(run.id, "status", f"failed: {error}", level="error", data={"status": "failed"})
        return "failed"
    if not leases.requeue(run.id, run.attempt, count_attempt=True, expired_before=now):
        return None
    leases.add_event(
        run.id,
        "status",
        f"requeued: the worker of attempt {run.attempt} stopped answering",
        level="warning",
        data={"status": "queued", "reason": "lease_expired"},
    )
    return "requeued"


class Reaper(threading.Thread):
    """Runs `reap_once` every `reaper_interval_s` in the worker's main process until stopped."""

    def __init__(self, settings: Settings, enqueue: Enqueue) -> None:
        super().__init__(name="deepfeat-reaper", daemon=True)
        self.settings, self.enqueue = settings, enqueue
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.settings.reaper_interval_s):
            try:
                reap_once(self.settings, self.enqueue)
            except Exception:
                log.exception("reaper pass failed; trying again next interval")
