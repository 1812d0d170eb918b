"""Rows for repository tests to point at; their blobs and specs are never read."""

from __future__ import annotations

from typing import Any

from deepfeat.data.schema import DatasetSchema
from deepfeat.db.models import Dataset, Run


def placeholder_dataset(dataset_id: str, project_id: str) -> Dataset:
    """A dataset row for runs to point at; its blob is never read."""
    return Dataset(
        id=dataset_id,
        project_id=project_id,
        name="d",
        format="npz",
        sha256="0" * 64,
        size_bytes=1,
        blob_key="blobs/00/0",
        n_rows=1,
        schema=DatasetSchema(),
    )


def placeholder_run(run_id: str, project_id: str, dataset_id: str, **fields: Any) -> Run:
    """A run row (queued unless `fields` say otherwise) for lease, cap and listing tests; its spec is
    never built."""
    row: dict[str, Any] = {
        "name": "r",
        "dataset_sha256": "0" * 64,
        "task": "classification",
        "spec": {},
        "progress": {},
        "best_metrics": {},
        "max_attempts": 2,
    }
    return Run(id=run_id, project_id=project_id, dataset_id=dataset_id, **(row | fields))
