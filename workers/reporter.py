"""The training loop's view of the database from inside a worker: metrics per epoch, lease heartbeat,
cancel flag, preemption and the soft time limit."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from deepfeat.config import Settings
from deepfeat.db.repositories.leases import LeaseRepository
from deepfeat.db.session import unit_of_work
from deepfeat.services.runs import cancel_flag
from deepfeat.services.signals import single_host
from deepfeat.storage.backends import open_store
from workers.lifecycle import PREEMPT, LeaseLost, Preempted, store_artifact
from workers.sweeps import Judge

CANCEL_POLL_S = 0.25  # how often the loop asks the DB whether the run was cancelled
SUMMARY_KEYS = ("loss", "val_loss", "accuracy", "val_accuracy", "val_mae", "d_loss", "g_loss")


class TimeLimitExceeded(Exception):
    """The run ran past DEEPFEAT_RUN_TIME_LIMIT_S."""


class Pruned(Exception):
    """The run's sweep stopped it after an epoch (early termination); the message says why."""


class DbReporter:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        run_id: str,
        attempt: int,
        settings: Settings,
        total_epochs: int,
    ) -> None:
        self.sessions, self.run_id, self.attempt, self.settings = sessions, run_id, attempt, settings
        self.total_epochs = total_epochs
        self.started = time.monotonic()
        self.first_epoch: int | None = None
        self.progress: dict[str, Any] = {"epoch": 0, "total_epochs": total_epochs, "step": 0}
        self._next_poll = 0.0
        self._next_heartbeat = time.monotonic() + settings.heartbeat_seconds
        # The flag file exists only where the API shares this host's disk; elsewhere the DB poll decides.
        self._cancel_flag = cancel_flag(settings, run_id) if single_host(settings) else None
        self.cancelled = False
        # Sweeps: after each recorded epoch, the sweep's pruner may stop the run (workers/sweeps.py).
        self.judge = Judge(sessions, run_id, settings)
        self.last_metrics: dict[str, float] = {}

    def epoch_end(self, epoch: int, step: int, metrics: dict[str, float]) -> None:
        if self.first_epoch is None:
            self.first_epoch = epoch  # after a resume, the ETA counts only this attempt's epochs
        done = epoch - self.first_epoch + 1
        eta = (time.monotonic() - self.started) / done * (self.total_epochs - epoch)
        self.progress = {
            "epoch": epoch,
            "total_epochs": self.total_epochs,
            "step": step,
            "eta_seconds": round(eta, 1),
        }
        with unit_of_work(self.sessions) as session:
            leases = LeaseRepository(session)
            if leases.renew(self.run_id, self.attempt, self.settings.lease_seconds, self.progress) is None:
                raise LeaseLost(self.run_id)
            leases.record_metrics(self.run_id, self.attempt, epoch, step, metrics)
            summary = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k in SUMMARY_KEYS)
            leases.add_event(
                self.run_id,
                "epoch",
                f"epoch {epoch}/{self.total_epochs}: {summary}",
                data={"epoch": epoch, "step": step, "metrics": metrics},
            )
        self._next_heartbeat = time.monotonic() + self.settings.heartbeat_seconds
        self.last_metrics = metrics
        reason = self.judge()
        if reason is not None:
            raise Pruned(reason)

    def artifact(self, name: str, content: bytes, media_type: str) -> None:
        """A file the run produced while training (e.g. a GAN's sample grid per epoch)."""
        with unit_of_work(self.sessions) as session:
            leases = LeaseRepository(session)
            run = leases.get(self.run_id)
            if run is None or run.attempt != self.attempt:
                raise LeaseLost(self.run_id)
            store = open_store(self.settings)
            store_artifact(leases, store, self.run_id, run.project_id, name, media_type, content)

    def warn(self, message: str, data: dict[str, Any]) -> None:
        with unit_of_work(self.sessions) as session:
            LeaseRepository(session).add_event(self.run_id, "warning", message, level="warning", data=data)

    def should_stop(self) -> bool:
        if PREEMPT.is_set():
            raise Preempted(self.run_id)
        if (
            self._cancel_flag is not None and self._cancel_flag.exists()
        ):  # one stat per step: a cancel lands on the next step
            self.cancelled = True
            return True
        now = time.monotonic()
        if now < self._next_poll:
            return False
        self._next_poll = now + CANCEL_POLL_S
        limit = self.settings.run_time_limit_s
        if limit is not None and now - self.started > limit:
            raise TimeLimitExceeded(f"timeout: the run exceeded its time limit of {limit:g} s")
        with unit_of_work(self.sessions) as session:
            leases = LeaseRepository(session)
            if now >= self._next_heartbeat:
                run = leases.renew(self.run_id, self.attempt, self.settings.lease_seconds, self.progress)
                self._next_heartbeat = now + self.settings.heartbeat_seconds
            else:
                run = leases.get(self.run_id)
            if run is None or run.attempt != self.attempt:
                raise LeaseLost(self.run_id)
            self.cancelled = run.cancel_requested
        return self.cancelled
