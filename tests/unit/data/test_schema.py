"""`DatasetSchema` answers and stores exactly the keys it was given: no default shows up as a new key,
and keys this version does not know (older or newer rows) pass through."""

from __future__ import annotations

import json

import pytest

from deepfeat.data.builtins import BUILTINS, load_builtin
from deepfeat.data.schema import DatasetSchema
from deepfeat.specs.datasets import DatasetOut


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_a_builtin_schema_round_trips_key_for_key(name: str) -> None:
    stored = json.loads(load_builtin(name).schema.model_dump_json())
    again = DatasetSchema.model_validate(stored)
    assert again.model_dump(mode="json") == stored
    assert stored["format"] == "builtin"


def test_unknown_keys_pass_through_and_unset_defaults_stay_out() -> None:
    row = {"n_rows": 3, "from_the_future": {"a": [1]}, "classes": [{"label": 0, "colour": "red"}]}
    schema = DatasetSchema.model_validate(row)
    assert schema.model_dump(mode="json") == row
    assert (schema.modality, schema.target_type, schema.input_shape) == ("tabular", "none", [])
    assert schema.with_(filename="a.csv").model_dump(mode="json") == {**row, "filename": "a.csv"}


def test_the_api_model_documents_the_fields_and_answers_only_the_stored_keys() -> None:
    documented = DatasetOut.model_json_schema(mode="serialization")["$defs"]["DatasetSchema"]
    assert {"modality", "input_shape", "classes", "columns"} <= set(documented["properties"])
    assert documented["additionalProperties"] is True
    out = DatasetOut.model_validate(
        {
            "id": "ds_1",
            "name": "d",
            "version": 1,
            "builtin": None,
            "format": "csv",
            "sha256": "0" * 64,
            "size_bytes": 1,
            "n_rows": 1,
            "schema": {"n_rows": 1, "target": None},
            "created_at": "2026-12-01T00:00:00Z",
        }
    )
    assert out.model_dump(mode="json", by_alias=True)["schema"] == {"n_rows": 1, "target": None}
