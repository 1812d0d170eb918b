"""Runs: validate a spec against its dataset, submit it (queued after commit), cancel, list."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from deepfeat.config import Settings
from deepfeat.db.models import Artifact, Run, RunEvent
from deepfeat.db.repositories.run_search import RunSearch
from deepfeat.db.repositories.runs import RunRepository
from deepfeat.db.session import after_commit
from deepfeat.errors import Conflict, NotFound, SpecError
from deepfeat.ids import new_id
from deepfeat.services.datasets import DatasetService
from deepfeat.services.encoders import EncoderService
from deepfeat.services.jobs import found, request_cancel
from deepfeat.services.paging import cursor_page
from deepfeat.services.signals import single_host
from deepfeat.services.workers import queue_for
from deepfeat.services.world_size import check_world_size
from deepfeat.specs.model import TransferSpec
from deepfeat.specs.run_filter import FilterError, parse_field, parse_filter
from deepfeat.specs.runs import MAX_TAGS, TERMINAL_STATUSES, RunFinding, RunSpec, ValidationReport, printable
from deepfeat.storage import ArtifactStore
from deepfeat.train.setup import setup_run
from deepfeat.train.stored_checkpoints import remove_stored_checkpoints

log = logging.getLogger(__name__)

# (run id, queue name) → put the message on the broker. Given by the caller so the core never imports Celery.
Enqueue = Callable[[str, str], None]


class RunService:
    def __init__(self, session: Session, project_id: str, settings: Settings, store: ArtifactStore) -> None:
        self.session = session
        self.repo = RunRepository(session, project_id)
        self.datasets = DatasetService(session, project_id, store, settings)
        self.encoders = EncoderService(session, project_id, settings, store)
        self.settings = settings

    def validate(self, spec: RunSpec) -> ValidationReport:
        schema = self.datasets.schema_of(spec.dataset)  # a dry run: registers nothing
        setup = setup_run(spec, schema, self.settings, self.encoders.build_context())
        check_world_size(
            self.session, spec, self.settings, queue_for(self.session, spec.training.device, self.settings)
        )
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
                if earlier.spec != spec.trained_spec():
                    raise Conflict("Idempotency-Key was used before with a different spec")
                return earlier, False
        dataset = self.datasets.resolve(spec.dataset)
        # Refuse before queueing, never in the worker.
        setup_run(spec, dataset.schema, self.settings, self.encoders.build_context())
        queue = queue_for(self.session, spec.training.device, self.settings)
        check_world_size(self.session, spec, self.settings, queue)
        run = self.repo.add(
            Run(
                id=new_id("run"),
                name=spec.name or f"{spec.model.type}-{dataset.name}",
                dataset_id=dataset.id,
                dataset_sha256=dataset.sha256,
                task=spec.task,
                spec=spec.trained_spec(),
                experiment=spec.experiment,
                tags=list(spec.tags),
                run_metadata=dict(spec.metadata),
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
        return found(self.repo.get(run_id), "run", run_id)

    def get_with_queue_position(self, run_id: str) -> tuple[Run, int | None]:
        """The run and its place in the queue (None unless it is queued), in one query."""
        row = self.repo.get_with_queue_position(run_id)
        if row is None:
            raise NotFound(f"run {run_id!r} not found")
        return row

    def page(
        self, status: str | None, after: str | None, limit: int, search: RunSearch | None = None
    ) -> tuple[list[Run], str | None]:
        """A page of runs (newest first, or by `search`'s metric) and the next cursor (None at the end)."""
        return cursor_page(
            lambda n: self.repo.page(status, after, n, search), limit, self.settings.page_size_max
        )

    def experiments(self) -> Sequence[str]:
        """The project's experiment names, for the dashboard's picker."""
        return self.repo.experiments()

    def update(self, run_id: str, change: RunFinding) -> Run:
        """Rename, move to another experiment, retag or replace the metadata of a run (any status)."""
        run = found(self.repo.get(run_id, for_update=True), "run", run_id)
        if change.name is not None:
            run.name = change.name
        if change.experiment is not None:
            run.experiment = change.experiment
        if change.metadata is not None:
            run.run_metadata = dict(change.metadata)
        tags = list(change.tags) if change.tags is not None else list(run.tags)
        tags = [t for t in dict.fromkeys([*tags, *change.add_tags]) if t not in set(change.remove_tags)]
        if len(tags) > MAX_TAGS:
            raise SpecError("/add_tags", f"a run holds at most {MAX_TAGS} tags; this would make {len(tags)}")
        run.tags = tags
        return run

    def cancel(self, run_id: str) -> Run:
        run = self.get(run_id)
        request_cancel(run, "run")
        # Running: a flag file the worker stats every step, where it shares this disk.
        if run.status == "cancelling" and single_host(self.settings):
            flag = cancel_flag(self.settings, run.id)
            after_commit(self.session, lambda: _touch(flag))
        self.session.add(
            RunEvent(run_id=run.id, kind="status", message=run.status, data={"status": run.status})
        )
        return run

    def delete(self, run_id: str) -> None:
        """Delete a finished run with its metrics, events, artifacts and checkpoints (local ones and
        those in the object store: any attempt's leftovers); blobs that no other row (of any project)
        refers to are removed after commit. A run still going is refused (cancel
        it first): its worker would keep writing. So is one registered as an encoder that is not
        archived, or whose archived version a queued or running extraction job uses."""
        run = found(self.repo.get(run_id, for_update=True), "run", run_id)
        if run.status not in TERMINAL_STATUSES:
            raise Conflict(f"run {run_id} is {run.status}: cancel it first (POST /v1/runs/{run_id}/cancel)")
        versions = self.encoders.repo.of_run(run_id)
        live = [f"{e.name}@{e.version}" for e in versions if e.archived_at is None]
        if live:
            raise Conflict(f"run {run_id} serves encoder {', '.join(live)}: archive it first", encoders=live)
        if self.repo.active_extractions_of([e.id for e in versions]):
            raise Conflict(
                f"an extraction job is embedding with an encoder of run {run_id}; wait or cancel it"
            )
        keys = [a.path for a in self.repo.artifacts(run_id)]
        self.repo.delete(run, versions)
        checkpoints = self.settings.checkpoints_dir / run_id
        store = self.datasets.store
        after_commit(self.session, lambda: self.datasets.remove_unreferenced(keys))
        after_commit(self.session, lambda: shutil.rmtree(checkpoints, ignore_errors=True))
        after_commit(self.session, lambda: _remove_checkpoints(store, run_id))

    def find(self, run_id: str) -> Run | None:
        """The run, or None where `get` would answer 404 (pages that skip what they cannot show)."""
        return self.repo.get(run_id)

    def metrics(self, run_id: str, key: str | None) -> Sequence[Any]:
        self.get(run_id)
        return self.repo.metrics(run_id, key)

    def events(self, run_id: str, after: int | None, limit: int) -> Sequence[RunEvent]:
        self.get(run_id)
        return self.repo.events(run_id, after, limit)

    def artifacts(self, run_id: str) -> Sequence[Artifact]:
        self.get(run_id)
        return self.repo.artifacts(run_id)

    def artifact(self, run_id: str, name: str) -> Artifact:
        found = next((a for a in self.artifacts(run_id) if a.name == name), None)
        if found is None:
            raise NotFound(f"run {run_id} has no artifact {name!r}")
        return found

    def queue_positions(self, runs: Sequence[Run]) -> dict[str, int]:
        """Each queued run's place in its project's queue (the order the cap lets them start)."""
        return self.repo.queue_positions(runs)


def run_search(
    experiment: str | None, tags: Sequence[str], where: str | None, sort: str | None, order: str
) -> RunSearch:
    """The query parameters of `GET /v1/runs` checked and parsed (422 with `loc` and, for the filter
    and sort, the `offset` of the character at fault)."""
    for name, values in (("experiment", [experiment] if experiment is not None else []), ("tag", tags)):
        for value in values:
            try:
                printable(value)
            except ValueError as exc:
                raise SpecError(f"/{name}", str(exc)) from None
    sort_metric = None
    if sort and sort != "created_at":
        found = parse_field(sort, param="sort")
        if found.source != "metrics":
            raise FilterError(0, "sort by `created_at` or by a best metric, `metrics.<key>`", param="sort")
        sort_metric = found.path[0]
    return RunSearch(
        experiment=experiment,
        tags=tuple(tags),
        where=parse_filter(where) if where else None,
        sort_metric=sort_metric,
        descending=order == "desc",
    )


def cancel_flag(settings: Settings, run_id: str) -> Path:
    """A file whose existence tells the worker training `run_id` to stop (the DB flag is the record).
    Only on one host; across hosts the worker polls the database flag (every 0.25 s)."""
    return settings.signals_dir / f"cancel-{run_id}"


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def _remove_checkpoints(store: ArtifactStore, run_id: str) -> None:
    """After the delete committed: the run's stored checkpoints go too. The run is gone either way, so a
    store that stays down through its retries leaves orphaned objects (logged), not a failed request."""
    try:
        remove_stored_checkpoints(store, run_id)
    except Exception:
        log.warning("could not remove the stored checkpoints of deleted run %s", run_id, exc_info=True)
