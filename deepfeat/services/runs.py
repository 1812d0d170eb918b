"""Runs: validate a spec against its dataset, submit it (queued after commit), cancel, list."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from deepfeat.config import Settings
from deepfeat.db.models import Run, RunEvent
from deepfeat.db.repositories.runs import RunRepository
from deepfeat.db.session import after_commit
from deepfeat.db.types import utcnow
from deepfeat.errors import Conflict, NotFound
from deepfeat.ids import new_id
from deepfeat.services.datasets import DatasetService
from deepfeat.services.encoders import EncoderService
from deepfeat.services.world_size import check_world_size
from deepfeat.specs.model import TransferSpec
from deepfeat.specs.runs import TERMINAL_STATUSES, RunSpec, ValidationReport
from deepfeat.storage import ArtifactStore
from deepfeat.train.setup import setup_run

# (run id, queue name) → put the message on the broker. Given by the caller so the core never imports Celery.
Enqueue = Callable[[str, str], None]


class RunService:
    def __init__(self, session: Session, project_id: str, settings: Settings, store: ArtifactStore) -> None:
        self.session = session
        self.repo = RunRepository(session, project_id)
        self.datasets = DatasetService(session, project_id, store)
        self.encoders = EncoderService(session, project_id, settings, store)
        self.settings = settings

    def validate(self, spec: RunSpec) -> ValidationReport:
        dataset = self.datasets.resolve(spec.dataset)
        setup = setup_run(spec, dataset.schema, self.settings, self.encoders.build_context())
        check_world_size(self.session, spec, self.settings)
        r = setup.report
        return ValidationReport(
            params=r.params,
            trainable_params=r.trainable_params,
            flops=r.flops,
            flops_per_sample=r.flops,
            input_shape=setup.input_shape,
            output_shape=r.output_shape,
            memory_estimate=r.memory_estimate,
        )

    def submit(self, spec: RunSpec, enqueue: Enqueue, idempotency_key: str | None = None) -> tuple[Run, bool]:
        """The run and whether it was created now (False: an earlier submit with the same key)."""
        spec = self._pinned(spec)
        if idempotency_key:
            earlier = self.repo.by_idempotency_key(idempotency_key)
            if earlier is not None:
                if earlier.spec != spec.model_dump(mode="json"):
                    raise Conflict("Idempotency-Key was used before with a different spec")
                return earlier, False
        dataset = self.datasets.resolve(spec.dataset)
        # Refuse before queueing, never in the worker.
        setup_run(spec, dataset.schema, self.settings, self.encoders.build_context())
        check_world_size(self.session, spec, self.settings)
        queue = "gpu" if spec.training.device == "gpu" else "cpu"
        run = self.repo.add(
            Run(
                id=new_id("run"),
                name=spec.name or f"{spec.model.type}-{dataset.name}",
                dataset_id=dataset.id,
                dataset_sha256=dataset.sha256,
                task=spec.task,
                spec=spec.model_dump(mode="json"),
                device=queue,
                status="queued",
                max_attempts=self.settings.max_attempts,
                idempotency_key=idempotency_key,
                progress={"epoch": 0, "total_epochs": spec.training.epochs},
                best_metrics={},
            )
        )
        self.session.add(RunEvent(run_id=run.id, kind="status", message="queued", data={"status": "queued"}))
        after_commit(self.session, lambda: enqueue(run.id, queue))
        return run, True

    def _pinned(self, spec: RunSpec) -> RunSpec:
        """`transfer` from `name@prod` is stored as the version `prod` meant at submission."""
        if not isinstance(spec.model, TransferSpec):
            return spec
        pinned = self.encoders.pin(spec.model.encoder)
        if pinned == spec.model.encoder:
            return spec
        return spec.model_copy(update={"model": spec.model.model_copy(update={"encoder": pinned})})

    def get(self, run_id: str) -> Run:
        run = self.repo.get(run_id)
        if run is None:
            raise NotFound(f"run {run_id!r} not found")
        return run

    def page(self, status: str | None, after: str | None, limit: int) -> Sequence[Run]:
        return self.repo.page(status, after, min(limit, self.settings.page_size_max))

    def cancel(self, run_id: str) -> Run:
        run = self.get(run_id)
        if run.status in TERMINAL_STATUSES:
            raise Conflict(f"run {run_id} is already {run.status}")
        run.cancel_requested = True
        if run.status == "queued":
            run.status, run.finished_at = "cancelled", utcnow()  # never started: nothing to wind down
        else:
            run.status = "cancelling"
            flag = cancel_flag(self.settings, run.id)
            after_commit(self.session, lambda: _touch(flag))  # the worker checks it every step
        self.session.add(
            RunEvent(run_id=run.id, kind="status", message=run.status, data={"status": run.status})
        )
        return run

    def metrics(self, run_id: str, key: str | None) -> Sequence[Any]:
        self.get(run_id)
        return self.repo.metrics(run_id, key)


def cancel_flag(settings: Settings, run_id: str) -> Path:
    """A file whose existence tells the worker training `run_id` to stop (the DB flag is the record)."""
    return settings.signals_dir / f"cancel-{run_id}"


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
