"""Datasets of one project (deleted ones are invisible here), and the store-wide blob references."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from deepfeat.db.models import Artifact, Dataset, Extraction, Run

ACTIVE_RUN_STATUSES = ("queued", "running", "cancelling")


class DatasetRepository:
    def __init__(self, session: Session, project_id: str) -> None:
        self.session = session
        self.project_id = project_id

    def _live(self) -> Select[Dataset]:
        return select(Dataset).where(Dataset.project_id == self.project_id, Dataset.deleted_at.is_(None))

    def get(self, dataset_id: str) -> Dataset | None:
        return self.session.scalar(self._live().where(Dataset.id == dataset_id))

    def of_run(self, dataset_id: str) -> Dataset:
        """The dataset a run or extraction of this project was submitted with, deleted since or not (a
        deleted dataset's row stays for the runs that point at it)."""
        return self.session.scalars(
            select(Dataset).where(Dataset.project_id == self.project_id, Dataset.id == dataset_id)
        ).one()

    def get_builtin(self, name: str) -> Dataset | None:
        return self.session.scalar(self._live().where(Dataset.builtin == name))

    def page(self, after: str | None, limit: int, name: str | None = None) -> Sequence[Dataset]:
        query = self._live()
        if after:
            query = query.where(Dataset.id > after)
        if name is not None:
            query = query.where(Dataset.name == name)
        return self.session.scalars(query.order_by(Dataset.id).limit(limit)).all()

    def by_name(self, name: str, version: int | None = None) -> Dataset | None:
        """A version of `name`, the latest when `version` is None."""
        query = self._live().where(Dataset.name == name)
        if version is not None:
            return self.session.scalar(query.where(Dataset.version == version))
        return self.session.scalar(query.order_by(Dataset.version.desc()).limit(1))

    def same_upload(self, sha256: str) -> Sequence[Dataset]:
        """Live datasets of this project made from the same uploaded bytes."""
        return self.session.scalars(
            self._live().where(Dataset.sha256 == sha256, Dataset.builtin.is_(None))
        ).all()

    def next_version(self, name: str) -> int:
        latest = self.session.scalar(
            select(func.max(Dataset.version)).where(
                Dataset.project_id == self.project_id, Dataset.name == name
            )
        )
        return int(latest or 0) + 1

    def active_runs(self, dataset_id: str) -> list[str]:
        """Ids of queued or running runs and extraction jobs reading the dataset."""
        runs = self.session.scalars(
            select(Run.id).where(
                Run.project_id == self.project_id,
                Run.dataset_id == dataset_id,
                Run.status.in_(ACTIVE_RUN_STATUSES),
            )
        )
        jobs = self.session.scalars(
            select(Extraction.id).where(
                Extraction.project_id == self.project_id,
                Extraction.dataset_id == dataset_id,
                Extraction.status.in_(ACTIVE_RUN_STATUSES),
            )
        )
        return [*runs, *jobs]

    def has_runs(self, dataset_id: str) -> bool:
        """Whether any run or extraction job refers to the dataset (then its row must stay)."""
        for column in (Run.dataset_id, Extraction.dataset_id):
            if self.session.scalar(select(column).where(column == dataset_id).limit(1)) is not None:
                return True
        return False

    def add(self, dataset: Dataset) -> Dataset:
        dataset.project_id = self.project_id
        self.session.add(dataset)
        self.session.flush()
        return dataset

    def delete(self, dataset: Dataset) -> None:
        self.session.delete(dataset)
        self.session.flush()


def referenced_keys(session: Session, except_dataset_id: str) -> tuple[set[str], set[str]]:
    """(every store key a live dataset of any project or an artifact points at, the manifests among
    them), leaving out one dataset. Store-wide on purpose: blobs are shared across projects by content,
    so only this says whether a blob may go. The caller reads the manifests for their array keys."""
    keys: set[str] = set()
    manifests: set[str] = set()
    rows = session.execute(
        select(Dataset.blob_key, Dataset.source_key, Dataset.layout).where(
            Dataset.id != except_dataset_id, Dataset.deleted_at.is_(None)
        )
    )
    for blob_key, source_key, layout in rows:
        keys.add(blob_key)
        if layout == "npy":
            manifests.add(blob_key)
        if source_key:
            keys.add(source_key)
    keys.update(session.scalars(select(Artifact.path)))
    return keys, manifests
