"""Finding runs in SQL: experiment, tags, the filter language (specs/run_filter.py) and sorting by a best
metric, the same on SQLite and PostgreSQL.

Values inside the JSON columns are read with each backend's JSON functions, and only when their JSON
type fits the comparison (a number for `<`, a string for `== "cnn"`): a comparison whose value is
missing or of another type is false, never a cast error. Everything is bound as parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Float,
    String,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
)
from sqlalchemy.sql.elements import KeyedColumnElement

from deepfeat.db.models import Run
from deepfeat.specs.run_filter import BoolOp, Compare, Field, Node, Not

Kind = Literal["number", "string", "boolean"]
_SQLITE_TYPES: dict[Kind, tuple[str, ...]] = {
    "number": ("integer", "real"),
    "string": ("text",),
    "boolean": ("true", "false"),
}


@dataclass(frozen=True)
class RunSearch:
    """What `GET /v1/runs` narrows and orders by, beyond status and the page cursor."""

    experiment: str | None = None
    tags: tuple[str, ...] = ()
    where: Node | None = None
    sort_metric: str | None = None  # None: newest first
    descending: bool = True

    def narrowing(self, reader: JsonReader) -> list[ColumnElement[bool]]:
        """The WHERE clauses of this search."""
        clauses = [reader.has_tag(tag) for tag in self.tags]
        if self.experiment is not None:
            clauses.append(Run.experiment == self.experiment)
        if self.where is not None:
            clauses.append(reader.condition(self.where))
        return clauses


class JsonReader:
    """Typed reads of a path inside a JSON column, for one SQL dialect."""

    def __init__(self, dialect: str) -> None:
        self.postgres = dialect == "postgresql"

    def value(self, column: Any, path: tuple[str, ...], kind: Kind) -> ColumnElement[Any]:
        """The value at `path` when it has JSON type `kind`, else NULL."""
        if self.postgres:
            typed = func.jsonb_typeof(column[path]) == kind
            text = column[path].as_string()
            read: ColumnElement[Any] = {
                "number": cast(text, Float),
                "string": text,
                "boolean": text == "true",
            }[kind]
            return case((typed, read))
        where = "$" + "".join(f"[{p}]" if p.isdigit() else f'."{p}"' for p in path)
        json_type = func.json_type(column, where)
        if kind == "boolean":
            return case((json_type.in_(_SQLITE_TYPES[kind]), json_type == "true"))
        extracted = func.json_extract(column, where)
        return case(
            (json_type.in_(_SQLITE_TYPES[kind]), cast(extracted, Float) if kind == "number" else extracted)
        )

    def has_tag(self, tag: str) -> ColumnElement[bool]:
        if self.postgres:
            contains = Run.tags.op("@>", return_type=Boolean)
            return contains(func.jsonb_build_array(cast(literal(tag), String)))
        each = func.json_each(Run.tags).table_valued("value")
        return exists().select_from(each).where(each.c.value == tag)

    def condition(self, node: Node) -> ColumnElement[bool]:
        """The SQL of a filter tree; bounded in depth by the parser."""
        if isinstance(node, Compare):
            return self._compare(node)
        if isinstance(node, Not):
            return not_(self.condition(node.item))
        parts = [self.condition(item) for item in node.items]
        assert isinstance(node, BoolOp)
        return and_(*parts) if node.op == "and" else or_(*parts)

    def _compare(self, node: Compare) -> ColumnElement[bool]:
        kind: Kind = (
            "boolean"
            if isinstance(node.value, bool)
            else "string"
            if isinstance(node.value, str)
            else "number"
        )
        left = self.value(_column(node.field), node.field.path, kind)
        right = literal(node.value, Boolean if kind == "boolean" else Float if kind == "number" else String)
        compared = {
            "==": left == right,
            "!=": left != right,
            "<": left < right,
            "<=": left <= right,
            ">": left > right,
            ">=": left >= right,
        }[node.op]
        # Missing or mistyped is false (not SQL's unknown), so `not` of it is true.
        return func.coalesce(compared, false(), type_=Boolean)


def _column(found: Field) -> KeyedColumnElement[Any] | Any:
    return {"spec": Run.spec, "metrics": Run.best_metrics, "metadata": Run.run_metadata}[found.source]
