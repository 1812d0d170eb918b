"""Datasets: built-ins registered on first use, resolving a run's `dataset` reference, loading arrays."""

from __future__ import annotations

from sqlalchemy.orm import Session

from deepfeat.data.arrays import ArrayDataset, read_npz, write_npz
from deepfeat.data.builtins import load_builtin
from deepfeat.db.models import Dataset
from deepfeat.db.repositories.datasets import DatasetRepository
from deepfeat.errors import NotFound, SpecError
from deepfeat.ids import new_id
from deepfeat.storage import ArtifactStore

BUILTIN_PREFIX = "builtin:"


class DatasetService:
    def __init__(self, session: Session, project_id: str, store: ArtifactStore) -> None:
        self.repo = DatasetRepository(session, project_id)
        self.store = store

    def register_builtin(self, name: str, display_name: str | None = None) -> Dataset:
        existing = self.repo.get_builtin(name)
        if existing is not None:
            return existing
        data = load_builtin(name)
        blob = self.store.put_file_from(lambda handle: write_npz(data, handle))
        return self.repo.add(
            Dataset(
                id=new_id("ds"),
                name=display_name or name,
                builtin=name,
                format="npz",
                sha256=blob.sha256,
                size_bytes=blob.size_bytes,
                blob_key=blob.key,
                n_rows=data.n_rows,
                schema=data.schema,
            )
        )

    def get(self, dataset_id: str) -> Dataset:
        dataset = self.repo.get(dataset_id)
        if dataset is None:
            raise NotFound(f"dataset {dataset_id!r} not found")
        return dataset

    def resolve(self, reference: str) -> Dataset:
        """A run spec's `dataset`: `builtin:<name>` or a dataset id, as a 422 at `/dataset` if unknown."""
        try:
            if reference.startswith(BUILTIN_PREFIX):
                return self.register_builtin(reference.removeprefix(BUILTIN_PREFIX))
            return self.get(reference)
        except NotFound as exc:
            raise SpecError("/dataset", exc.detail) from None


def load_arrays(dataset: Dataset, store: ArtifactStore) -> ArrayDataset:
    return read_npz(store.path(dataset.blob_key), dataset.schema)
