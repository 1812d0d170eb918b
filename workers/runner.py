"""Around one training job: claim the run, train it with checkpoints, store results, finish.

The runner is the workers' one commit point; the core training code never touches the database.
Outcomes: succeeded; cancelled (flag seen within a step); failed with the reason (a crash of the
job, or the soft time limit); requeued on preemption (SIGTERM), resuming from the last checkpoint.
A worker killed outright is noticed by the reaper when its lease expires. A data-parallel run
(world_size > 1) trains here as rank 0; a rank that dies or hangs ends the attempt (`RankLost`) and the
run is requeued, counting the attempt, to resume from its checkpoint.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from deepfeat.config import Settings
from deepfeat.data.arrays import ArrayDataset
from deepfeat.db.repositories.datasets import DatasetRepository
from deepfeat.db.repositories.leases import LeaseRepository
from deepfeat.db.session import make_engine, make_session_factory, unit_of_work
from deepfeat.encoders.catalogue import build_context
from deepfeat.errors import ArtifactCorrupt
from deepfeat.gpus import pool_index
from deepfeat.nn import BuildContext, SourceEncoder
from deepfeat.services.datasets import load_arrays
from deepfeat.services.encoders import EncoderService
from deepfeat.services.runs import cancel_flag
from deepfeat.specs.runs import RunSpec
from deepfeat.storage import ArtifactStore
from deepfeat.storage.backends import open_store
from deepfeat.train.checkpoint import CheckpointDir
from deepfeat.train.job import TrainOutcome
from deepfeat.train.launch import RankLost, train_on_ranks
from deepfeat.train.stored_checkpoints import StoredCheckpoints
from workers import lifecycle
from workers.lifecycle import PREEMPT, LeaseLost, Preempted, claim_or_skip
from workers.reporter import DbReporter, Pruned, TimeLimitExceeded
from workers.settle import finish, requeue_preempted, retry
from workers.sweeps import advance_sweeps, finish_pruned

log = logging.getLogger(__name__)
_engines: dict[str, Engine] = {}

# (run id, queue) → message on the broker; the runner re-sends a preempted run.
Enqueue = Callable[[str, str], None]


def reset_process_state() -> None:
    """Forget connections inherited through fork; each process opens its own."""
    for engine in _engines.values():
        engine.dispose(close=False)
    _engines.clear()


def sessions_for(settings: Settings) -> sessionmaker[Session]:
    url = settings.resolved_database_url
    if url not in _engines:
        _engines[url] = make_engine(url, settings.db_pool_size)
    return make_session_factory(_engines[url])


def lease_owner(pid: int) -> str:
    """How a process names itself on the leases it holds (the heartbeat lists its pool by these)."""
    return f"{socket.gethostname()}:{pid}"


@dataclass(frozen=True)
class ClaimedRun:
    run_id: str
    project_id: str
    attempt: int
    device: str
    spec: RunSpec
    dataset_sha256: str
    data: ArrayDataset


def execute_run(run_id: str, settings: Settings, enqueue: Enqueue) -> None:
    sessions = sessions_for(settings)
    store = open_store(settings)
    owner = lease_owner(os.getpid())
    with sessions() as session:
        leases = LeaseRepository(session)
        cap = settings.max_concurrent_runs_per_project
        attempt = claim_or_skip(
            leases,
            run_id,
            lambda: leases.claim(run_id, owner, settings.lease_seconds, cap),
            enqueue,
            log,
            started=lambda attempt: leases.add_event(
                run_id,
                "status",
                f"running (attempt {attempt}) on {owner}",
                data={"status": "running", "attempt": attempt, "worker": owner, "slot": pool_index()},
            ),
            # Its project is at its cap, or an older run of the project waits ahead of it: it stays
            # queued, and the next run of the project to start or end sends it again (start_waiting);
            # the reaper's re-send of stale queued runs backs that up.
            waiting=f"left queued: its project is at its cap ({cap}) or an older run goes first",
        )
        if attempt is None:
            return
        run = leases.get(run_id)
        assert run is not None
        try:
            job = ClaimedRun(
                run_id,
                run.project_id,
                attempt,
                run.device,
                RunSpec.model_validate(run.spec),
                run.dataset_sha256,
                load_arrays(
                    DatasetRepository(session, run.project_id).of_run(run.dataset_id), store, verify=True
                ),
            )
        except Exception as exc:
            reason = (
                f"artifact_corrupt: {exc}"
                if isinstance(exc, ArtifactCorrupt)
                else f"cannot load the run: {exc}"
            )
            finish(sessions, run_id, attempt, "failed", error=reason)
            start_waiting(sessions, run.project_id, settings, enqueue)
            return
    log.info("run %s attempt %d started", run_id, attempt)
    # Runs of the project refused while this one waited ahead of them (they start in order) may fit now.
    start_waiting(sessions, job.project_id, settings, enqueue)
    _train_and_finish(sessions, store, job, settings, enqueue)


def _train_and_finish(
    sessions: sessionmaker[Session],
    store: ArtifactStore,
    job: ClaimedRun,
    settings: Settings,
    enqueue: Enqueue,
) -> None:
    run_id, attempt = job.run_id, job.attempt
    checkpoints = checkpoints_for(store, run_id, settings)
    reporter = DbReporter(sessions, run_id, attempt, settings, job.spec.training.epochs)
    try:
        outcome = train_on_ranks(
            job.spec, job.data, reporter, settings, checkpoints, _context(sessions, store, job, settings)
        )
    except RankLost as exc:
        if PREEMPT.is_set():  # the shutdown took a rank with it: still a preemption, not a failure
            requeue_preempted(sessions, job.run_id, job.attempt, job.device, enqueue)
        elif not retry(sessions, run_id, attempt, job.device, enqueue, f"a rank was lost: {exc}"):
            _clear(checkpoints, run_id)
            start_waiting(sessions, job.project_id, settings, enqueue)
        return
    except LeaseLost:
        log.warning("run %s attempt %d lost its lease; another attempt owns it", run_id, attempt)
        return
    except Preempted:
        requeue_preempted(sessions, job.run_id, job.attempt, job.device, enqueue)
        return
    except Pruned as exc:  # its sweep's early termination stopped it (workers/sweeps.py)
        finish_pruned(sessions, run_id, attempt, str(exc), reporter.progress, reporter.last_metrics)
        _clear(checkpoints, run_id)
        start_waiting(sessions, job.project_id, settings, enqueue)
        return
    except TimeLimitExceeded as exc:
        finish(sessions, run_id, attempt, "failed", error=str(exc), progress=reporter.progress)
        _clear(checkpoints, run_id)
        start_waiting(sessions, job.project_id, settings, enqueue)
        return
    except Exception as exc:  # the run fails with the reason; the worker lives on
        log.exception("run %s attempt %d failed", run_id, attempt)
        finish(sessions, run_id, attempt, "failed", error=f"{type(exc).__name__}: {exc}")
        _clear(checkpoints, run_id)
        start_waiting(sessions, job.project_id, settings, enqueue)
        return

    if outcome.result.stopped == "cancelled":
        finish(sessions, run_id, attempt, "cancelled", progress=reporter.progress)
        cancel_flag(settings, run_id).unlink(missing_ok=True)
    else:
        try:
            _store_results(sessions, store, job, outcome, reporter.progress)
        except Exception as exc:  # the store stayed down through its retries: no artifact row was written
            log.exception("run %s attempt %d could not store its results", run_id, attempt)
            reason = f"could not store the results: {type(exc).__name__}: {exc}"
            finish(sessions, run_id, attempt, "failed", error=reason, progress=reporter.progress)
    _clear(checkpoints, run_id)
    start_waiting(sessions, job.project_id, settings, enqueue)


def _clear(checkpoints: CheckpointDir, run_id: str) -> None:
    """Drop an ended attempt's checkpoints, best effort: when the store is what just failed, clearing
    fails too, and that must not hide the run's own end (already recorded) or skip the runs waiting
    behind it. What is left is removed when the run is deleted."""
    try:
        checkpoints.clear()
    except Exception:
        log.warning(
            "run %s: its checkpoints could not be cleared (run delete removes them)", run_id, exc_info=True
        )


def checkpoints_for(store: ArtifactStore, run_id: str, settings: Settings) -> CheckpointDir:
    """Beside the files on one machine; in the object store when the store is remote (any host resumes)."""
    if store.is_local:
        return CheckpointDir(settings.checkpoints_dir / run_id)
    return StoredCheckpoints(store, run_id, settings.resolved_cache_dir / "checkpoints" / run_id)


def _store_results(
    sessions: sessionmaker[Session],
    store: ArtifactStore,
    job: ClaimedRun,
    outcome: TrainOutcome,
    progress: dict[str, Any],
) -> None:
    run_id, attempt = job.run_id, job.attempt
    receipt = {**outcome.receipt, "run_id": run_id, "attempt": attempt, "dataset_sha256": job.dataset_sha256}
    files = [
        ("model.safetensors", "application/octet-stream", outcome.weights),
        ("spec.json", "application/json", json.dumps(job.spec.model_dump(mode="json")).encode()),
        ("receipt.json", "application/json", json.dumps(receipt, indent=2).encode()),
        *(
            (f"{name}.json", "application/json", json.dumps(value).encode())
            for name, value in outcome.extras.items()
        ),
        *((name, media_type, content) for name, (media_type, content) in outcome.files.items()),
    ]
    ended = lifecycle.finish(
        sessions,
        LeaseRepository,
        run_id,
        attempt,
        "succeeded",
        progress=progress,
        values={"best_metrics": outcome.result.best},
        outputs=lifecycle.Outputs(store, job.project_id, files),
        then=lambda leases: leases.add_event(
            run_id,
            "status",
            f"succeeded after {outcome.result.epochs_run} epochs ({outcome.result.stopped})",
            data={"status": "succeeded"},
        ),
    )
    if not ended:
        log.warning("run %s attempt %d finished after losing its lease; results dropped", run_id, attempt)


def _context(
    sessions: sessionmaker[Session], store: ArtifactStore, job: ClaimedRun, settings: Settings
) -> BuildContext:
    """Registered encoders (`transfer` from `name@version`) resolve in the run's project."""

    def resolve(ref: str) -> SourceEncoder:
        with sessions() as session:
            return EncoderService(session, job.project_id, settings, store).source(ref)

    return build_context(resolve_encoder=resolve)


def start_waiting(
    sessions: sessionmaker[Session], project_id: str, settings: Settings, enqueue: Enqueue
) -> None:
    """A slot of the project may have freed: send its oldest queued runs that now fit under the cap.
    Read after the finish was committed, so two runs ending at once cannot both miss a waiting run."""
    with unit_of_work(sessions) as session:
        leases = LeaseRepository(session)
        waiting = leases.startable(project_id, settings.max_concurrent_runs_per_project)
        for run_id, _ in waiting:
            leases.touch(run_id)  # the reaper need not re-send it too
    for run_id, device in waiting:
        enqueue(run_id, device)
    advance_sweeps(sessions, project_id, settings, enqueue)  # a trial ended: its sweep may propose more
