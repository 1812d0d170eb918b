"""/v1/models: OpenAI's model list, so SDKs and tools that list models before using one find ours.

Ids are everything `/v1/embeddings` accepts as `model`: catalogue names, `name@version`, `name@alias`
and the bare `name` of a registered encoder (its latest version)."""

from __future__ import annotations

from fastapi import APIRouter

from deepfeat.services.compat import model_id, model_ids
from deepfeat.specs.compat import OpenAIModel, OpenAIModelList
from service.deps import DbSession, EncoderServiceDep, Reader
from service.openapi_errors import OPENAI_ERROR_RESPONSES
from service.routing import OneHopRoute

router = APIRouter(
    route_class=OneHopRoute, prefix="/v1/models", tags=["embeddings"], responses=OPENAI_ERROR_RESPONSES
)


@router.get("", response_model=OpenAIModelList)
def list_models(who: Reader, session: DbSession) -> OpenAIModelList:
    """Every model id of this project (OpenAI's list is not paginated; neither is this one)."""
    found = model_ids(session, who.project_id)
    return OpenAIModelList(data=[OpenAIModel(id=i, created=c, owned_by=o) for i, c, o in found])


@router.get("/{model}", response_model=OpenAIModel)
def retrieve_model(model: str, service: EncoderServiceDep) -> OpenAIModel:
    """One model by id; an unknown one answers 404 with code `model_not_found`."""
    found, created, owner = model_id(service, model)
    return OpenAIModel(id=found, created=created, owned_by=owner)
