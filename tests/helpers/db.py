"""Rows for repository tests to point at; their blobs and specs are never read."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from deepfeat.data.schema import DatasetSchema
from deepfeat.db.models import Artifact, Dataset, Run
from deepfeat.db.repositories.leases import LeaseRepository
from deepfeat.ids import new_id
from deepfeat.storage import ArtifactStore, StoredBlob


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


def succeed_with_model(
    session: Session, store: ArtifactStore, run_id: str, weights: bytes, best: dict[str, float] | None = None
) -> tuple[Run, StoredBlob]:
    """Claim a queued run and end it `succeeded` with `weights` as its `model.safetensors`, the way a
    worker records it (the caller commits)."""
    leases = LeaseRepository(session)
    attempt = leases.claim(run_id, "test", 60)
    assert attempt is not None
    run = leases.get(run_id)
    assert run is not None
    blob = store.put_bytes(weights)
    leases.add_artifact(
        Artifact(
            id=new_id("art"),
            project_id=run.project_id,
            run_id=run_id,
            name="model.safetensors",
            media_type="application/octet-stream",
            path=blob.key,
            sha256=blob.sha256,
            size_bytes=blob.size_bytes,
        )
    )
    assert leases.finish(run_id, attempt, "succeeded", values={"best_metrics": best or {}})
    return run, blob
