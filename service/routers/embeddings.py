"""/v1/embeddings: the OpenAI-compatible face of the encoders (same batching underneath)."""

from __future__ import annotations

import base64

import numpy as np
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from deepfeat.encoders.batcher import QueueFull
from deepfeat.encoders.embedder import InvalidInput
from deepfeat.services.encoders import check_inputs, options_for
from deepfeat.specs.encoders import (
    OpenAIEmbedding,
    OpenAIEmbeddingRequest,
    OpenAIEmbeddingResponse,
    OpenAIUsage,
)
from service.routers.encoders import FastReader, FastState, Runtime, busy, prepare, resolve

router = APIRouter(tags=["embeddings"])


@router.post("/v1/embeddings", response_model=OpenAIEmbeddingResponse)
async def create_embeddings(
    body: OpenAIEmbeddingRequest, who: FastReader, state: FastState, runtime: Runtime
) -> OpenAIEmbeddingResponse | JSONResponse:
    """`{model, input}` → `{object: "list", data: [{object: "embedding", index, embedding}], usage}`."""
    settings = state.settings
    inputs = [body.input] if isinstance(body.input, str) else body.input
    if not inputs:
        raise InvalidInput("/input", "send at least one input")
    check_inputs(inputs, settings)
    resolved = await resolve(body.model, who, state, runtime)
    options = options_for(resolved, None, None, None, None, settings)
    try:
        items = await prepare(resolved, list(inputs))
    except InvalidInput as exc:  # OpenAI calls the field `input`
        raise InvalidInput(exc.extra["loc"].replace("/inputs", "/input", 1), _reason(exc)) from None
    tokens = resolved.embedder.tokens(items)
    try:
        vectors = await runtime.embed(resolved.key, resolved.embedder, items, options)
    except QueueFull as exc:
        return busy(exc)
    data = [
        OpenAIEmbedding(
            index=i,
            embedding=(
                base64.b64encode(np.asarray(v, dtype="<f4").tobytes()).decode()
                if body.encoding_format == "base64"
                else v.tolist()
            ),
        )
        for i, v in enumerate(vectors)
    ]
    return OpenAIEmbeddingResponse(
        data=data, model=resolved.ref, usage=OpenAIUsage(prompt_tokens=tokens, total_tokens=tokens)
    )


def _reason(exc: InvalidInput) -> str:
    return exc.detail.partition(": ")[2] or exc.detail
