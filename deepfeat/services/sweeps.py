"""Sweeps: validate every parameter against the base run spec, propose trials as ordinary runs, judge
running trials for early termination, finish, cancel.

The driver (`advance`) is called when a sweep is created, whenever one of the project's runs starts or
ends (the worker's runner), and on every reaper tick (so a sweep keeps going whatever restarted).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from deepfeat.config import Settings
from deepfeat.db.models import Run, RunEvent, Sweep
from deepfeat.db.repositories.sweeps import SweepRepository
from deepfeat.db.types import utcnow
from deepfeat.errors import Conflict, DeepfeatError, NotFound, SpecError, json_pointer
from deepfeat.ids import new_id
from deepfeat.services.paging import cursor_page
from deepfeat.services.runs import Enqueue, RunService
from deepfeat.services.webhooks import WebhookService
from deepfeat.specs.runs import TERMINAL_STATUSES, RunSpec
from deepfeat.specs.sweeps import SWEEP_TERMINAL, SweepOut, SweepSpec, SweepTrialOut
from deepfeat.storage import ArtifactStore
from deepfeat.sweeps.space import apply, decode, distribution, grid_size
from deepfeat.sweeps.study import TrialRecord, propose, should_prune
from deepfeat.train.setup import metric_names

_STATE = {"succeeded": "complete", "pruned": "pruned", "failed": "fail", "cancelled": "fail"}


class SweepService:
    def __init__(self, session: Session, project_id: str, settings: Settings, store: ArtifactStore) -> None:
        self.session = session
        self.project_id = project_id
        self.repo = SweepRepository(session, project_id)
        self.runs = RunService(session, project_id, settings, store)
        self.settings = settings

    # --- submit ----------------------------------------------------------------------------------
    def create(self, spec: SweepSpec, enqueue: Enqueue) -> Sweep:
        """Check every parameter's values against the base spec (a 422 at `/parameters/<path>`), then
        record the sweep and queue its first `parallelism` trials (after commit)."""
        if spec.method == "grid":
            size = grid_size(spec)
            run_cap = min(spec.run_cap or size, size)
        elif spec.run_cap is None:
            raise SpecError("/run_cap", f"a {spec.method} sweep needs `run_cap` (its number of trials)")
        else:
            run_cap = spec.run_cap
        logged = metric_names(spec.base.task)
        if spec.metric.name not in logged:  # every trial would end without a value to judge it by
            raise SpecError(
                "/metric/name",
                f"{spec.metric.name!r} is not logged per epoch for {spec.base.task}; use one of "
                + ", ".join(logged),
            )
        base = spec.base.model_dump(mode="json")
        for path, param in spec.parameters.items():
            try:
                distribution(param)  # what Optuna itself refuses (a step wider than the range, say)
            except ValueError as exc:
                raise SpecError(json_pointer(["parameters", path]), str(exc)) from None
            for value in _candidates(param.model_dump()):
                self._check(base, path, value)
        sweep = self.repo.add(
            Sweep(
                id=new_id("swp"),
                project_id=self.project_id,
                name=spec.name or f"{spec.method}-{spec.base.model.type}",
                spec=spec.model_dump(mode="json"),
                status="running",
                proposed=0,
                run_cap=run_cap,
            )
        )
        self.advance(sweep, enqueue, strict=True)
        return sweep

    def _check(self, base: dict[str, Any], path: str, value: Any) -> None:
        where = json_pointer(["parameters", path])
        try:
            run_spec = RunSpec.model_validate(apply(base, {path: value}))
            self.runs.validate(run_spec)
        except ValidationError as exc:
            first = exc.errors()[0]
            at = ".".join(str(p) for p in first["loc"])
            raise SpecError(where, f"value {value!r} is refused at `{at}`: {first['msg']}") from None
        except SpecError as exc:
            raise SpecError(where, f"value {value!r} is refused: {exc.detail}") from None

    # --- the driver ------------------------------------------------------------------------------
    def advance_all(self, enqueue: Enqueue) -> None:
        for sweep in self.repo.running():
            self.advance(sweep, enqueue)

    def advance(self, sweep: Sweep, enqueue: Enqueue, *, strict: bool = False) -> None:
        """Fill the sweep's free slots with new trials, or finish it when every trial has ended."""
        if sweep.status != "running":
            return
        spec = SweepSpec.model_validate(sweep.spec)
        children = self.repo.children(sweep.id)
        active = sum(run.status not in TERMINAL_STATUSES for run in children)
        if sweep.proposed >= sweep.run_cap:
            if active == 0:
                self._finish(sweep, "finished", children)
            return
        slots = min(spec.parallelism - active, sweep.run_cap - sweep.proposed)
        if slots <= 0 or not self.repo.take_proposals(sweep.id, sweep.proposed, sweep.proposed + slots):
            return
        sweep.proposed += slots
        records = self._records(spec, children)
        base = spec.base.model_dump(mode="json")
        for _ in range(slots):
            number = len(records)
            proposal = propose(spec, sweep.id, records)
            values = {path: decode(path, spec, v) for path, v in proposal.params.items()}
            try:
                run_spec = RunSpec.model_validate(apply(base, values) | {"name": f"{sweep.name}-{number}"})
                run, _ = self.runs.submit(run_spec, enqueue)
            except (ValidationError, DeepfeatError) as exc:
                if strict:
                    raise
                # A combination no single value showed (say, too many parameters together).
                sweep.error = f"trial {number} {values}: {exc}"
                self._finish(sweep, "failed", children)
                return
            run.sweep_id = sweep.id
            run.sweep_trial = {
                "number": number,
                "params": proposal.params,
                "system_attrs": proposal.system_attrs,
            }
            records.append(
                TrialRecord(number, proposal.params, "running", system_attrs=proposal.system_attrs)
            )

    def _records(self, spec: SweepSpec, children: Sequence[Run]) -> list[TrialRecord]:
        series = self.repo.series([run.id for run in children], spec.metric.name)
        records: list[TrialRecord] = []
        for run in children:
            trial = run.sweep_trial or {}
            records.append(
                TrialRecord(
                    number=int(trial.get("number", len(records))),
                    params=dict(trial.get("params", {})),
                    state=_STATE.get(run.status, "running"),  # type: ignore[arg-type]
                    value=run.best_metrics.get(spec.metric.name),
                    intermediate=series.get(run.id, {}),
                    system_attrs=dict(trial.get("system_attrs", {})),
                )
            )
        return records

    def judge(self, run: Run) -> str | None:
        """For a running trial that just recorded an epoch: the reason to stop it now, or None. Stores
        what the pruner noted (its rung values) with the trial either way."""
        sweep = self.repo.get(run.sweep_id) if run.sweep_id else None
        if sweep is None or sweep.status != "running" or run.sweep_trial is None:
            return None
        spec = SweepSpec.model_validate(sweep.spec)
        if spec.early_terminate is None:
            return None
        records = self._records(spec, self.repo.children(sweep.id))
        number = int(run.sweep_trial["number"])
        prune, attrs = should_prune(spec, sweep.id, records, number)
        run.sweep_trial = {**run.sweep_trial, "system_attrs": attrs}
        if not prune:
            return None
        mine = next(r for r in records if r.number == number)
        epoch = max(mine.intermediate)
        return (
            f"pruned by the sweep's {spec.early_terminate.type} early termination after epoch {epoch}: "
            f"{spec.metric.name} {mine.intermediate[epoch]:.4g} trails the other trials"
        )

    def _finish(self, sweep: Sweep, status: str, children: Sequence[Run]) -> None:
        spec = SweepSpec.model_validate(sweep.spec)
        best = _best(spec, children)
        sweep.status, sweep.finished_at = status, utcnow()
        sweep.best_run_id = best.id if best is not None else None
        WebhookService(self.session, self.project_id).emit(
            "sweep.completed",
            {
                "sweep_id": sweep.id,
                "name": sweep.name,
                "status": status,
                "best_run_id": sweep.best_run_id,
                "best_metric": best.best_metrics.get(spec.metric.name) if best else None,
                "metric": spec.metric.name,
                "trials": len(children),
            },
        )

    # --- reading and cancelling ------------------------------------------------------------------
    def get(self, sweep_id: str) -> Sweep:
        sweep = self.repo.get(sweep_id)
        if sweep is None:
            raise NotFound(f"sweep {sweep_id!r} not found")
        return sweep

    def page(self, status: str | None, after: str | None, limit: int) -> tuple[list[Sweep], str | None]:
        return cursor_page(lambda n: self.repo.page(status, after, n), limit, self.settings.page_size_max)

    def cancel(self, sweep_id: str) -> Sweep:
        """Stop proposing, and cancel every child still queued or running."""
        sweep = self.get(sweep_id)
        if sweep.status in SWEEP_TERMINAL:
            raise Conflict(f"sweep {sweep_id} is already {sweep.status}")
        children = self.repo.children(sweep.id)
        for run in children:
            if run.status not in TERMINAL_STATUSES and run.status != "cancelling":
                self.runs.cancel(run.id)
                self.session.add(
                    RunEvent(run_id=run.id, kind="sweep", message=f"sweep {sweep.id} was cancelled", data={})
                )
        self._finish(sweep, "cancelled", children)
        return sweep

    def describe(self, sweep: Sweep) -> SweepOut:
        spec = SweepSpec.model_validate(sweep.spec)
        children = self.repo.children(sweep.id)
        best = _best(spec, children)
        trials: list[SweepTrialOut] = []
        for run in children:
            trial = run.sweep_trial or {}
            params = {
                p: decode(p, spec, v) for p, v in trial.get("params", {}).items() if p in spec.parameters
            }
            trials.append(
                SweepTrialOut(
                    number=int(trial.get("number", len(trials))),
                    run_id=run.id,
                    status=run.status,
                    params=params,
                    metric=run.best_metrics.get(spec.metric.name),
                    epochs=int(run.progress.get("epoch", 0)),
                )
            )
        return SweepOut(
            id=sweep.id,
            name=sweep.name,
            status=sweep.status,
            method=spec.method,
            metric=spec.metric,
            run_cap=sweep.run_cap,
            parallelism=spec.parallelism,
            error=sweep.error,
            best_run_id=best.id if best is not None else None,
            best_metric=best.best_metrics.get(spec.metric.name) if best is not None else None,
            trials=trials,
            spec=sweep.spec,
            created_at=sweep.created_at,
            finished_at=sweep.finished_at,
        )


def _best(spec: SweepSpec, children: Sequence[Run]) -> Run | None:
    """The best trial that finished (pruned trials stopped early, so they never count as best)."""
    done = [r for r in children if r.status == "succeeded" and spec.metric.name in r.best_metrics]
    if not done:
        return None
    sign = 1.0 if spec.metric.goal == "maximize" else -1.0
    return max(done, key=lambda r: sign * float(r.best_metrics[spec.metric.name]))


def _candidates(param: dict[str, Any]) -> list[Any]:
    """The values to check a parameter with before any trial runs: every choice, or a range's ends."""
    if param.get("values") is not None:
        return list(param["values"])
    if param.get("value") is not None:
        return [param["value"]]
    lo, hi = param["min"], param["max"]
    if param.get("distribution") == "int_uniform":
        return [int(lo), int(hi)]
    return [lo, hi]
