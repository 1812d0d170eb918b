"""/v1/embeddings: the OpenAI-compatible face of the encoders (same batching underneath).

Errors on this route are written in OpenAI's envelope by the one handler (service/dialects.py)."""

from __future__ import annotations

import base64

import numpy as np
from fastapi import APIRouter

from deepfeat.encoders.embedder import InvalidInput
from deepfeat.services.compat import fit_dimensions, is_token_ids, openai_inputs, token_items
from deepfeat.services.encoders import check_inputs, options_for
from deepfeat.specs.encoders import (
    OpenAIEmbedding,
    OpenAIEmbeddingRequest,
    OpenAIEmbeddingResponse,
    OpenAIUsage,
)
from service.openapi_errors import OPENAI_ERROR_RESPONSES
from service.routers.encoders import FastReader, FastState, Runtime, prepare, resolve

router = APIRouter(tags=["embeddings"], responses=OPENAI_ERROR_RESPONSES)


@router.post("/v1/embeddings", response_model=OpenAIEmbeddingResponse)
async def create_embeddings(
    body: OpenAIEmbeddingRequest, who: FastReader, state: FastState, runtime: Runtime
) -> OpenAIEmbeddingResponse:
    """`{model, input}` → `{object: "list", data: [{object: "embedding", index, embedding}], usage}`.
    `input` may be token ids of the encoder's own tokenizer; `dimensions` may name the encoder's."""
    settings = state.settings
    inputs = openai_inputs(body.input)
    if not inputs:
        raise InvalidInput("/input", "send at least one input")
    check_inputs(inputs, settings)
    resolved = await resolve(body.model, who, state, runtime)
    options = options_for(resolved, None, None, None, None, settings)
    if is_token_ids(body.input):
        items: list[object] = list(token_items(resolved.embedder, inputs, resolved.ref))
    else:
        items = await prepare(resolved, inputs)
    tokens = resolved.embedder.tokens(items)
    vectors = await runtime.embed(resolved.key, resolved.embedder, items, options)
    vectors = fit_dimensions(vectors, body.dimensions, resolved)
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
