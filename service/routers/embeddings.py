"""/v1/embeddings: the OpenAI-compatible face of the encoders (same batching underneath).

Errors on this route are written in OpenAI's envelope by the one handler (service/dialects.py)."""

from __future__ import annotations

import base64

import numpy as np
from fastapi import APIRouter

from deepfeat.encoders.embedder import InvalidInput
from deepfeat.services.compat import fit_dimensions, is_token_ids, openai_inputs
from deepfeat.specs.encoders import (
    OpenAIEmbedding,
    OpenAIEmbeddingRequest,
    OpenAIEmbeddingResponse,
    OpenAIUsage,
)
from service.deps import Reader, State
from service.embedding import Runtime, embed_inputs
from service.openapi_errors import OPENAI_ERROR_RESPONSES
from service.routing import OneHopRoute

router = APIRouter(route_class=OneHopRoute, tags=["embeddings"], responses=OPENAI_ERROR_RESPONSES)


@router.post("/v1/embeddings", response_model=OpenAIEmbeddingResponse)
async def create_embeddings(
    body: OpenAIEmbeddingRequest, who: Reader, state: State, runtime: Runtime
) -> OpenAIEmbeddingResponse:
    """`{model, input}` → `{object: "list", data: [{object: "embedding", index, embedding}], usage}`.
    `input` may be token ids of the encoder's own tokenizer; `dimensions` may name the encoder's."""
    inputs = openai_inputs(body.input)
    if not inputs:
        raise InvalidInput("/input", "send at least one input")
    done = await embed_inputs(body.model, inputs, who, state, runtime, token_ids=is_token_ids(body.input))
    resolved, tokens = done.resolved, done.tokens
    vectors = fit_dimensions(done.vectors, body.dimensions, resolved)
    data = [
        OpenAIEmbedding(
            index=i,
            embedding=(
                base64.b64encode(np.asarray(v, dtype="<f4").tobytes()).decode()
                if body.encoding_format == "base64"
                else np.asarray(v).tolist()
            ),
        )
        for i, v in enumerate(vectors)
    ]
    return OpenAIEmbeddingResponse(
        data=data, model=resolved.ref, usage=OpenAIUsage(prompt_tokens=tokens, total_tokens=tokens)
    )
