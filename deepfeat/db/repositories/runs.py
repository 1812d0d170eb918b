"""Runs of one project, with their metrics, events and artifacts."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, bindparam, case, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from deepfeat.db.models import Artifact, Encoder, Extraction, Run, RunEvent, RunMetric
from deepfeat.db.repositories.run_search import JsonReader, RunSearch

# Built once: `GET /v1/runs/{id}` is the most frequent request, and building the statement (column
# comparisons, bind parameters) cost as much as running it.
_BY_ID = select(Run).where(Run.id == bindparam("run_id"), Run.project_id == bindparam("project_id"))
_BY_ID_FOR_UPDATE = _BY_ID.with_for_update()
_AHEAD = aliased(Run)
_PLACE = (
    select(func.count())
    .where(_AHEAD.project_id == Run.project_id, _AHEAD.status == "queued", _AHEAD.id <= Run.id)
    .scalar_subquery()
)
# The run and, when it is queued, its place in the queue, in one statement: CASE runs the count only for a
# queued run.
_BY_ID_WITH_PLACE = select(Run, case((Run.status == "queued", _PLACE), else_=None)).where(
    Run.id == bindparam("run_id"), Run.project_id == bindparam("project_id")
)


class RunRepository:
    def __init__(self, session: Session, project_id: str) -> None:
        self.session = session
        self.project_id = project_id

    @property
    def _owned(self) -> ColumnElement[bool]:
        return Run.project_id == self.project_id

    def get(self, run_id: str, for_update: bool = False) -> Run | None:
        query = _BY_ID_FOR_UPDATE if for_update else _BY_ID
        return self.session.scalar(query, {"run_id": run_id, "project_id": self.project_id})

    def get_with_queue_position(self, run_id: str) -> tuple[Run, int | None] | None:
        """The run and, if it is queued, its 1-based place among the project's queued runs."""
        row = self.session.execute(
            _BY_ID_WITH_PLACE, {"run_id": run_id, "project_id": self.project_id}
        ).first()
        return None if row is None else (row[0], row[1])

    def by_idempotency_key(self, key: str) -> Run | None:
        return self.session.scalar(
            select(Run).where(Run.idempotency_key == key, Run.project_id == self.project_id)
        )

    def page(
        self, status: str | None, after: str | None, limit: int, search: RunSearch | None = None
    ) -> Sequence[Run]:
        """Newest first, or by a best metric (runs without it last); `after` is the last id of the
        previous page, whatever the order (the cursor run's own value says where to go on)."""
        search = search or RunSearch()
        reader = JsonReader(self.session.get_bind().dialect.name)
        query = select(Run).where(Run.project_id == self.project_id, *search.narrowing(reader))
        if status:
            query = query.where(Run.status == status)
        if search.sort_metric is None:
            if after:
                query = query.where(Run.id < after)
            return self.session.scalars(query.order_by(Run.id.desc()).limit(limit)).all()
        metric = reader.value(Run.best_metrics, (search.sort_metric,), "number")
        if after:
            cursor = self.session.execute(select(Run.id, metric).where(self._owned, Run.id == after)).first()
            if cursor is None:
                return []
            value = cursor[1]
            if value is None:
                query = query.where(metric.is_(None), Run.id < after)
            else:
                beyond = metric < value if search.descending else metric > value
                query = query.where(
                    or_(
                        and_(metric.is_not(None), beyond),
                        and_(metric == value, Run.id < after),
                        metric.is_(None),
                    )
                )
        order = metric.desc() if search.descending else metric.asc()
        return self.session.scalars(query.order_by(metric.is_(None), order, Run.id.desc()).limit(limit)).all()

    def experiments(self, limit: int = 200) -> Sequence[str]:
        query = select(Run.experiment).where(self._owned).distinct().order_by(Run.experiment).limit(limit)
        return self.session.scalars(query).all()

    def queue_positions(self, runs: Sequence[Run]) -> dict[str, int]:
        """1-based place of each queued run in `runs` among the project's queued runs, oldest first (ids
        sort by submission time). The project's cap on concurrent runs makes this its order of start."""
        asked = [r.id for r in runs if r.status == "queued"]
        if not asked:
            return {}
        if len(asked) == 1:  # one run (GET /v1/runs/{id}): count those ahead rather than list the queue
            ahead = select(func.count()).where(self._owned, Run.status == "queued", Run.id <= asked[0])
            place = int(self.session.scalar(ahead) or 0)
            return {asked[0]: place} if place else {}
        queued = self.session.scalars(
            select(Run.id).where(self._owned, Run.status == "queued").order_by(Run.id)
        ).all()
        return {run_id: i for i, run_id in enumerate(queued, start=1)}

    def add(self, run: Run) -> Run:
        run.project_id = self.project_id
        self.session.add(run)
        self.session.flush()
        return run

    def active_extractions_of(self, encoder_ids: Sequence[str]) -> Sequence[str]:
        """Queued or running extraction jobs that embed with one of these encoder versions."""
        if not encoder_ids:
            return []
        return self.session.scalars(
            select(Extraction.id).where(
                Extraction.encoder_id.in_(encoder_ids),
                Extraction.status.in_(("queued", "running", "cancelling")),
            )
        ).all()

    def delete(self, run: Run, encoders: Sequence[Encoder]) -> None:
        """The run and its archived encoder rows; metrics, events and artifacts go by cascade. Finished
        extraction jobs keep their text ref (`name@3`) and their embeddings, not the row they pinned."""
        ids = [e.id for e in encoders]
        if ids:
            self.session.execute(
                update(Extraction).where(Extraction.encoder_id.in_(ids)).values(encoder_id=None)
            )
        for encoder in encoders:
            self.session.delete(encoder)
        self.session.flush()
        self.session.delete(run)
        self.session.flush()

    def metrics(self, run_id: str, key: str | None) -> Sequence[RunMetric]:
        query = select(RunMetric).join(Run).where(RunMetric.run_id == run_id, self._owned)
        if key:
            query = query.where(RunMetric.key == key)
        return self.session.scalars(query.order_by(RunMetric.step, RunMetric.key)).all()

    def events(self, run_id: str, after: int | None, limit: int) -> Sequence[RunEvent]:
        query = select(RunEvent).join(Run).where(RunEvent.run_id == run_id, self._owned)
        if after is not None:
            query = query.where(RunEvent.id > after)
        return self.session.scalars(query.order_by(RunEvent.id).limit(limit)).all()

    def artifacts(self, run_id: str) -> Sequence[Artifact]:
        return self.session.scalars(
            select(Artifact)
            .where(Artifact.run_id == run_id, Artifact.project_id == self.project_id)
            .order_by(Artifact.name)
        ).all()
