"""docs/specs.md documents every field of the run spec (a new field without docs fails here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deepfeat.specs.runs import RunSpec

DOC = (Path(__file__).parents[2] / "docs" / "specs.md").read_text()


def _fields(schema: dict[str, Any]) -> set[str]:
    names = set(schema.get("properties", {}))
    for definition in schema.get("$defs", {}).values():
        names |= set(definition.get("properties", {}))
    return names


def test_every_spec_field_is_documented() -> None:
    missing = sorted(name for name in _fields(RunSpec.model_json_schema()) if f"`{name}`" not in DOC)
    assert missing == [], f"document these fields in docs/specs.md: {missing}"
