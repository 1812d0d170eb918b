"""/v1/datasets"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from deepfeat.services.datasets import DatasetService
from deepfeat.specs.datasets import BuiltinDatasetRequest, DatasetOut, DatasetPage
from service.deps import DbSession, Reader, State, Writer

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])


@router.post("", status_code=201, response_model=DatasetOut)
def create_dataset(body: BuiltinDatasetRequest, who: Writer, session: DbSession, state: State) -> DatasetOut:
    """Register a built-in data set (`{"builtin": "digits"}`); the same one twice returns the first."""
    service = DatasetService(session, who.project_id, state.store)
    return DatasetOut.model_validate(service.register_builtin(body.builtin, body.name))


@router.get("", response_model=DatasetPage)
def list_datasets(
    who: Reader,
    session: DbSession,
    state: State,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DatasetPage:
    rows = DatasetService(session, who.project_id, state.store).repo.page(after, limit)
    return DatasetPage(
        data=[DatasetOut.model_validate(r) for r in rows],
        next_after=rows[-1].id if len(rows) == limit else None,
    )


@router.get("/{dataset_id}", response_model=DatasetOut)
def get_dataset(dataset_id: str, who: Reader, session: DbSession, state: State) -> DatasetOut:
    return DatasetOut.model_validate(DatasetService(session, who.project_id, state.store).get(dataset_id))
