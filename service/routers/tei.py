"""text-embeddings-inference (TEI)'s routes for one default encoder (`DEEPFEAT_TEI_MODEL`), so TEI
clients (huggingface_hub's InferenceClient, LangChain's HuggingFaceEndpointEmbeddings) work with the
server's base URL alone. Errors are written in TEI's shape by the one handler (service/dialects.py)."""

from __future__ import annotations

from fastapi import APIRouter, Response

import deepfeat
from deepfeat.encoders.embedder import InvalidInput
from deepfeat.encoders.text import MAX_TOKENS
from deepfeat.services.compat import check_length, fit_dimensions
from deepfeat.services.encoders import Resolved
from deepfeat.specs.compat import TEIEmbedRequest, TEIInfo
from service.deps import Reader, State
from service.embedding import Runtime, embed_inputs, resolve
from service.openapi_errors import TEI_ERROR_RESPONSES
from service.routing import OneHopRoute

router = APIRouter(route_class=OneHopRoute, tags=["tei"], responses=TEI_ERROR_RESPONSES)


@router.post("/embed", response_model=list[list[float]])
@router.post("/", response_model=list[list[float]], summary="Embed (TEI's root route)")
async def embed(body: TEIEmbedRequest, who: Reader, state: State, runtime: Runtime) -> list[list[float]]:
    """TEI's `/embed` (also `POST /`, where clients given only the base URL send it): `{inputs,
    normalize?, truncate?, dimensions?}` → one vector per input. As in TEI, an input longer than the
    encoder takes is a 422 unless `truncate: true`."""
    inputs = [body.inputs] if isinstance(body.inputs, str) else list(body.inputs)
    if not inputs:
        raise InvalidInput("/inputs", "send at least one input")
    if body.prompt_name is not None:
        raise InvalidInput("/prompt_name", "this encoder has no named prompts")

    def as_tei_does(resolved: Resolved) -> None:
        if resolved.embedder.modality == "text" and body.truncate is not True:
            check_length(resolved.embedder, inputs, "/inputs")
        elif body.truncation_direction.lower() == "left":
            raise InvalidInput("/truncation_direction", "only `Right` truncation is supported")

    model = state.settings.tei_model
    done = await embed_inputs(model, inputs, who, state, runtime, normalize=body.normalize, check=as_tei_does)
    return [[float(x) for x in v] for v in fit_dimensions(done.vectors, body.dimensions, done.resolved)]


@router.get("/info", response_model=TEIInfo)
async def info(who: Reader, state: State, runtime: Runtime) -> TEIInfo:
    """TEI's `/info` for the default encoder."""
    resolved = await resolve(state.settings.tei_model, who, state, runtime)
    settings = state.settings
    return TEIInfo(
        model_id=resolved.ref,
        model_sha=None,
        model_dtype="float32",
        model_type={"embedding": {"pooling": "mean"}},
        max_concurrent_requests=512,
        max_input_length=MAX_TOKENS,
        max_batch_tokens=MAX_TOKENS * settings.max_inputs_per_request,
        max_batch_requests=None,
        max_client_batch_size=settings.max_inputs_per_request,
        auto_truncate=False,
        tokenization_workers=1,
        version=deepfeat.__version__,
    )


@router.get("/health", response_class=Response, responses={200: {"description": "ready to embed"}})
def health() -> Response:
    """TEI's liveness probe (no key, like `/healthz`)."""
    return Response(status_code=200)
