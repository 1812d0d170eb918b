"""Datasets of one project."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from deepfeat.db.models import Dataset


class DatasetRepository:
    def __init__(self, session: Session, project_id: str) -> None:
        self.session = session
        self.project_id = project_id

    def get(self, dataset_id: str) -> Dataset | None:
        return self.session.scalar(
            select(Dataset).where(Dataset.id == dataset_id, Dataset.project_id == self.project_id)
        )

    def get_builtin(self, name: str) -> Dataset | None:
        return self.session.scalar(
            select(Dataset).where(Dataset.builtin == name, Dataset.project_id == self.project_id)
        )

    def page(self, after: str | None, limit: int) -> Sequence[Dataset]:
        query = select(Dataset).where(Dataset.project_id == self.project_id)
        if after:
            query = query.where(Dataset.id > after)
        return self.session.scalars(query.order_by(Dataset.id).limit(limit)).all()

    def add(self, dataset: Dataset) -> Dataset:
        dataset.project_id = self.project_id
        self.session.add(dataset)
        self.session.flush()
        return dataset
