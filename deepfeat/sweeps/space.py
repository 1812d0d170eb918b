"""A sweep's search space as Optuna distributions, and how a trial's values land in a run spec.

Choices (`values`) can be anything JSON (a list of hidden sizes, say) while Optuna's categorical
choices must be scalars, so a choice is kept in Optuna as its JSON text and decoded when applied.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from deepfeat.errors import SpecError, json_pointer
from deepfeat.specs.sweeps import ParameterSpec, SweepSpec


def distribution(param: ParameterSpec) -> BaseDistribution:
    kind = param.kind
    if kind == "categorical":
        return CategoricalDistribution([_encode(v) for v in param.values or []])
    if kind == "constant":
        return CategoricalDistribution([_encode(param.value)])
    assert param.min is not None  # checked by ParameterSpec
    assert param.max is not None
    if kind == "int_uniform":
        return IntDistribution(int(param.min), int(param.max))
    if kind == "log_uniform_values":
        return FloatDistribution(param.min, param.max, log=True)
    if kind == "q_uniform":
        return FloatDistribution(param.min, param.max, step=param.q)
    return FloatDistribution(param.min, param.max)


def distributions(spec: SweepSpec) -> dict[str, BaseDistribution]:
    return {path: distribution(param) for path, param in spec.parameters.items()}


def grid(spec: SweepSpec) -> dict[str, list[Any]]:
    """The grid's axes (Optuna's encoded choices); a 422 naming the first parameter that is a range."""
    axes: dict[str, list[Any]] = {}
    for path, dist in distributions(spec).items():
        if not isinstance(dist, CategoricalDistribution):
            raise SpecError(
                json_pointer(["parameters", path]), "grid needs `values` (or `value`) for every parameter"
            )
        axes[path] = list(dist.choices)
    return axes


def grid_size(spec: SweepSpec) -> int:
    return math.prod(len(axis) for axis in grid(spec).values())


def decode(path: str, spec: SweepSpec, value: Any) -> Any:
    """Optuna's value for `path` as it goes into the run spec."""
    if isinstance(distribution(spec.parameters[path]), CategoricalDistribution):
        return json.loads(value)
    return value


def apply(base: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """`base` (a run spec with its defaults filled in) with each dotted path set to its value.

    A path must name a field that exists there; a 422 points at the parameter otherwise."""
    spec = copy.deepcopy(base)
    for path, value in values.items():
        node: Any = spec
        parts = path.split(".")
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part) if isinstance(node, dict) else None
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise SpecError(
                    json_pointer(["parameters", path]),
                    f"`{where}` is not an object in the base spec (set it in `base` to sweep inside it)",
                )
            node = child
        if parts[-1] not in node:
            raise SpecError(json_pointer(["parameters", path]), f"the run spec has no field `{path}`")
        node[parts[-1]] = value
    return spec


def _encode(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
