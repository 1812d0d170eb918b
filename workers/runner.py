"""Around one training job: claim the run, heartbeat its lease, honour cancel, store results, finish.

The runner is the workers' one commit point; the core training code never touches the database.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from deepfeat.config import Settings
from deepfeat.data.arrays import ArrayDataset
from deepfeat.db.models import Artifact, Dataset
from deepfeat.db.repositories.leases import LeaseRepository
from deepfeat.db.session import make_engine, make_session_factory
from deepfeat.ids import new_id
from deepfeat.services.datasets import load_arrays
from deepfeat.specs.runs import RunSpec
from deepfeat.storage import ArtifactStore
from deepfeat.train.job import train

log = logging.getLogger(__name__)
CANCEL_POLL_S = 0.25  # how often the loop asks the DB whether the run was cancelled

_engines: dict[str, Engine] = {}


def reset_process_state() -> None:
    """Forget connections inherited through fork; each process opens its own."""
    for engine in _engines.values():
        engine.dispose(close=False)
    _engines.clear()


def _sessions(settings: Settings) -> sessionmaker[Session]:
    url = settings.resolved_database_url
    if url not in _engines:
        _engines[url] = make_engine(url)
    return make_session_factory(_engines[url])


class LeaseLost(Exception):
    """Another attempt owns the run now (our lease expired); stop without writing anything else."""


class DbReporter:
    """The training loop's view of the database: metrics per epoch, lease heartbeat, cancel flag."""

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
        self.progress: dict[str, Any] = {"epoch": 0, "total_epochs": total_epochs, "step": 0}
        self._next_poll = 0.0
        self._next_heartbeat = time.monotonic() + settings.heartbeat_seconds
        self.cancelled = False

    def epoch_end(self, epoch: int, step: int, metrics: dict[str, float]) -> None:
        elapsed = time.monotonic() - self.started
        eta = elapsed / epoch * (self.total_epochs - epoch)
        self.progress = {
            "epoch": epoch,
            "total_epochs": self.total_epochs,
            "step": step,
            "eta_seconds": round(eta, 1),
        }
        with self.sessions() as session:
            leases = LeaseRepository(session)
            if leases.renew(self.run_id, self.attempt, self.settings.lease_seconds, self.progress) is None:
                raise LeaseLost(self.run_id)
            leases.record_metrics(self.run_id, self.attempt, epoch, step, metrics)
            summary = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k in _SUMMARY_KEYS)
            leases.add_event(
                self.run_id,
                "epoch",
                f"epoch {epoch}/{self.total_epochs}: {summary}",
                data={"epoch": epoch, "step": step, "metrics": metrics},
            )
            session.commit()
        self._next_heartbeat = time.monotonic() + self.settings.heartbeat_seconds

    def should_stop(self) -> bool:
        now = time.monotonic()
        if now < self._next_poll:
            return False
        self._next_poll = now + CANCEL_POLL_S
        with self.sessions() as session:
            leases = LeaseRepository(session)
            if now >= self._next_heartbeat:
                run = leases.renew(self.run_id, self.attempt, self.settings.lease_seconds, self.progress)
                session.commit()
                self._next_heartbeat = now + self.settings.heartbeat_seconds
            else:
                run = leases.get(self.run_id)
            if run is None or run.attempt != self.attempt:
                raise LeaseLost(self.run_id)
            self.cancelled = run.cancel_requested
        return self.cancelled


_SUMMARY_KEYS = ("loss", "val_loss", "accuracy", "val_accuracy", "val_mae")


@dataclass(frozen=True)
class Job:
    run_id: str
    project_id: str
    attempt: int
    spec: RunSpec
    dataset_sha256: str
    data: ArrayDataset


def execute_run(run_id: str, settings: Settings) -> None:
    sessions = _sessions(settings)
    store = ArtifactStore(settings.artifacts_dir)
    owner = f"{socket.gethostname()}:{os.getpid()}"
    with sessions() as session:
        leases = LeaseRepository(session)
        attempt = leases.claim(run_id, owner, settings.lease_seconds)
        if attempt is None:
            # Finished, cancelled, unknown, or held by a live worker (a duplicate delivery): nothing to do.
            log.info("run %s not claimable; skipping", run_id)
            return
        leases.add_event(
            run_id,
            "status",
            f"running (attempt {attempt}) on {owner}",
            data={"status": "running", "attempt": attempt, "worker": owner},
        )
        session.commit()
        run = leases.get(run_id)
        assert run is not None
        try:
            job = Job(
                run_id,
                run.project_id,
                attempt,
                RunSpec.model_validate(run.spec),
                run.dataset_sha256,
                load_arrays(session.get_one(Dataset, run.dataset_id), store),
            )
        except Exception as exc:
            _finish(sessions, run_id, attempt, "failed", error=f"cannot load the run: {exc}")
            return
    log.info("run %s attempt %d started", run_id, attempt)
    _train_and_finish(sessions, store, job, settings)


def _train_and_finish(
    sessions: sessionmaker[Session], store: ArtifactStore, job: Job, settings: Settings
) -> None:
    run_id, attempt = job.run_id, job.attempt
    reporter = DbReporter(sessions, run_id, attempt, settings, job.spec.training.epochs)
    try:
        outcome = train(job.spec, job.data, reporter, settings)
    except LeaseLost:
        log.warning("run %s attempt %d lost its lease; another attempt owns it", run_id, attempt)
        return
    except Exception as exc:  # the run fails with the reason; the worker lives on
        log.exception("run %s attempt %d failed", run_id, attempt)
        _finish(sessions, run_id, attempt, "failed", error=f"{type(exc).__name__}: {exc}")
        return

    if outcome.result.stopped == "cancelled":
        _finish(sessions, run_id, attempt, "cancelled", progress=reporter.progress)
        return
    receipt = {**outcome.receipt, "run_id": run_id, "attempt": attempt, "dataset_sha256": job.dataset_sha256}
    artifacts = [
        ("model.safetensors", "application/octet-stream", store.put_bytes(outcome.weights)),
        (
            "spec.json",
            "application/json",
            store.put_bytes(json.dumps(job.spec.model_dump(mode="json")).encode()),
        ),
        ("receipt.json", "application/json", store.put_bytes(json.dumps(receipt, indent=2).encode())),
        *(
            (f"{name}.json", "application/json", store.put_bytes(json.dumps(value).encode()))
            for name, value in outcome.extras.items()
        ),
    ]
    with sessions() as session:
        leases = LeaseRepository(session)
        for name, media_type, blob in artifacts:
            leases.add_artifact(
                Artifact(
                    id=new_id("art"),
                    project_id=job.project_id,
                    run_id=run_id,
                    name=name,
                    media_type=media_type,
                    path=blob.key,
                    sha256=blob.sha256,
                    size_bytes=blob.size_bytes,
                )
            )
        if leases.finish(run_id, attempt, "succeeded", best=outcome.result.best, progress=reporter.progress):
            leases.add_event(
                run_id,
                "status",
                f"succeeded after {outcome.result.epochs_run} epochs ({outcome.result.stopped})",
                data={"status": "succeeded"},
            )
            session.commit()
        else:
            session.rollback()
            log.warning("run %s attempt %d finished after losing its lease; results dropped", run_id, attempt)


def _finish(
    sessions: sessionmaker[Session],
    run_id: str,
    attempt: int,
    status: str,
    *,
    error: str | None = None,
    progress: dict[str, Any] | None = None,
) -> None:
    with sessions() as session:
        leases = LeaseRepository(session)
        if leases.finish(run_id, attempt, status, error=error, progress=progress):
            leases.add_event(
                run_id,
                "status",
                status if error is None else f"{status}: {error}",
                level="error" if error else "info",
                data={"status": status, "error": error},
            )
            session.commit()
