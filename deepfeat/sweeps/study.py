"""An Optuna study rebuilt from a sweep's child runs, to ask for the next trial or judge a running one.

Our rows are the record (docs/architecture.md, "Sweeps"): each decision builds an in-memory study from
the trials so far (their parameters, per-epoch metric, final value, and the system attributes Optuna's
samplers and pruners keep, such as the grid point or a successive-halving rung), asks or prunes, and
hands back what Optuna wrote so the caller stores it with the trial.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import optuna
from optuna.pruners import BasePruner, HyperbandPruner, MedianPruner, NopPruner
from optuna.samplers import BaseSampler, GridSampler, RandomSampler, TPESampler
from optuna.storages import InMemoryStorage
from optuna.trial import TrialState, create_trial

from deepfeat.specs.sweeps import SweepSpec
from deepfeat.sweeps.space import distributions, grid

optuna.logging.set_verbosity(optuna.logging.WARNING)
TrialStateName = Literal["running", "complete", "pruned", "fail"]
_STATES = {
    "running": TrialState.RUNNING,
    "complete": TrialState.COMPLETE,
    "pruned": TrialState.PRUNED,
    "fail": TrialState.FAIL,
}


@dataclass
class TrialRecord:
    """One trial as our rows know it."""

    number: int
    params: dict[str, Any]
    state: TrialStateName
    value: float | None = None
    intermediate: dict[int, float] = field(default_factory=dict)  # epoch → metric
    system_attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Proposal:
    params: dict[str, Any]  # Optuna's values (choices still JSON-encoded)
    system_attrs: dict[str, Any]


def sampler(spec: SweepSpec, n_trials: int) -> BaseSampler:
    """The sampler of the sweep's method. Seeded by the trial count: a rebuilt study asked again for the
    same trial proposes the same thing, and each new trial draws afresh."""
    if spec.method == "grid":
        # Its seed shuffles the grid, and `grid_id`s index the shuffled grid: keep it fixed per sweep.
        return GridSampler(grid(spec), seed=spec.seed)
    seed = spec.seed * 1_000_003 + n_trials
    if spec.method == "random":
        return RandomSampler(seed=seed)
    cap = spec.run_cap or 10
    # TPE's default of 10 random trials first would leave a small sweep almost all random.
    return TPESampler(seed=seed, n_startup_trials=max(2, min(10, cap // 4)), constant_liar=True)


def pruner(spec: SweepSpec) -> BasePruner:
    early = spec.early_terminate
    if early is None:
        return NopPruner()
    if early.type == "median":
        return MedianPruner(n_startup_trials=2, n_warmup_steps=early.min_iter - 1)
    max_resource = early.max_iter or spec.base.training.epochs
    return HyperbandPruner(
        min_resource=early.min_iter,
        max_resource=max(max_resource, early.min_iter),
        reduction_factor=early.eta,
    )


def rebuild(spec: SweepSpec, sweep_id: str, trials: list[TrialRecord]) -> optuna.Study:
    study = optuna.create_study(
        storage=InMemoryStorage(),
        sampler=sampler(spec, len(trials)),
        pruner=pruner(spec),
        study_name=sweep_id,  # Hyperband assigns brackets by a hash of study name and trial number
        direction=spec.metric.goal,
    )
    dists = distributions(spec)
    for record in sorted(trials, key=lambda t: t.number):
        state = _STATES[record.state]
        if state == TrialState.COMPLETE and record.value is None:
            state = TrialState.FAIL  # finished without reporting the metric
        study.add_trial(
            create_trial(
                state=state,
                params={k: v for k, v in record.params.items() if k in dists},
                distributions={k: d for k, d in dists.items() if k in record.params},
                value=record.value if state == TrialState.COMPLETE else None,
                intermediate_values=record.intermediate,
                system_attrs=record.system_attrs,
            )
        )
    return study


def propose(spec: SweepSpec, sweep_id: str, trials: list[TrialRecord]) -> Proposal:
    """The next trial's parameters (trial number `len(trials)`)."""
    study = rebuild(spec, sweep_id, trials)
    trial = study.ask(distributions(spec))
    frozen = study._storage.get_trial(trial._trial_id)
    return Proposal(params=dict(trial.params), system_attrs=dict(frozen.system_attrs))


def should_prune(
    spec: SweepSpec, sweep_id: str, trials: list[TrialRecord], number: int
) -> tuple[bool, dict[str, Any]]:
    """Whether the running trial `number` should stop now (its latest epoch is in `intermediate`), and
    its system attributes after the pruner looked at it (to store with the trial)."""
    study = rebuild(spec, sweep_id, trials)
    frozen = next(t for t in study.get_trials(deepcopy=False) if t.number == number)
    if frozen.last_step is None:
        return False, dict(frozen.system_attrs)
    prune = study.pruner.prune(study, frozen)
    after = study._storage.get_trial(frozen._trial_id)
    return bool(prune), dict(after.system_attrs)
