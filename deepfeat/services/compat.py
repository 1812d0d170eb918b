"""What the OpenAI- and TEI-shaped routes add to embedding: token-id inputs, `dimensions`, `truncate`,
and the model list. The embedding itself is the encoders' (same batcher, same vectors)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from deepfeat.db.repositories.encoders import EncoderRepository
from deepfeat.encoders.catalogue import PRETRAINED
from deepfeat.encoders.embedder import Embedder
from deepfeat.errors import BadRequest, NotFound
from deepfeat.services.encoders import LATEST, EncoderService, Resolved

MAX_TOKENS = 256  # what minilm-l6 was trained with; token ids beyond it are cut, as texts are


def is_token_ids(value: Any) -> bool:
    """`[1, 2]` or `[[1, 2], [3]]`: OpenAI's token-id input forms (strings are the other forms)."""
    if not isinstance(value, list) or not value:
        return False
    first = value[0]
    return isinstance(first, int) or (isinstance(first, list) and all(isinstance(x, int) for x in first))


def openai_inputs(value: str | list[Any]) -> list[Any]:
    """One request's `input` as a list of items: strings, or lists of token ids."""
    if isinstance(value, str):
        return [value]
    if value and isinstance(value[0], int):
        return [value]  # one text, already tokenised
    return list(value)


def _tokenizer(embedder: Embedder) -> Any:
    tokenizer = getattr(embedder, "tokenizer", None)
    if embedder.modality != "text" or tokenizer is None:
        raise BadRequest(
            "/input: token ids are read by text encoders only; send this encoder its own kind of input",
            loc="/input",
        )
    return tokenizer


def token_items(embedder: Embedder, ids: Sequence[list[int]], model: str) -> list[list[int]]:
    """Token ids of the encoder's own tokenizer (as TEI and vLLM take them), checked against its
    vocabulary. Ids from another tokenizer (e.g. tiktoken's cl100k) would embed garbage: refused."""
    vocab = int(_tokenizer(embedder).get_vocab_size())
    items = []
    for i, row in enumerate(ids):
        if not row:
            raise BadRequest(f"/input/{i}: an empty list of token ids", loc=f"/input/{i}")
        bad = next((t for t in row if not 0 <= t < vocab), None)
        if bad is not None:
            raise BadRequest(
                f"/input/{i}: token id {bad} is outside {model}'s vocabulary (0..{vocab - 1}); send ids "
                "of this encoder's own tokenizer, or send text",
                loc=f"/input/{i}",
            )
        items.append(list(row[:MAX_TOKENS]))
    return items


def check_length(embedder: Embedder, texts: Sequence[str], loc: str) -> None:
    """TEI's `truncate: false`: a text longer than the encoder takes is refused (422), not cut."""
    tokenizer = _tokenizer(embedder)
    for i, encoding in enumerate(tokenizer.encode_batch(list(texts))):
        if encoding.overflowing:
            limit = len(encoding.ids)
            raise LengthExceeded(
                f"{loc}/{i}: input is longer than the {limit} tokens this encoder takes; send "
                "`truncate: true` to cut it",
                loc=f"{loc}/{i}",
            )


class LengthExceeded(BadRequest):
    status_code = 422
    error = "input_too_long"


def fit_dimensions(vectors: list[Any], dimensions: int | None, resolved: Resolved) -> list[Any]:
    """`dimensions`: the encoder's own is accepted; fewer only for encoders trained for it (the first
    k dimensions, renormalised); anything else is a 400 naming the encoder's dimension."""
    if dimensions is None or not vectors:
        return vectors
    dim = int(np.asarray(vectors[0]).shape[-1])
    if dimensions == dim:
        return vectors
    entry = PRETRAINED.get(resolved.ref)
    if entry is None or not entry.truncatable or dimensions > dim:
        raise BadRequest(
            f"/dimensions: {resolved.ref} answers {dim} dimensions and cannot be shortened to "
            f"{dimensions}; leave `dimensions` out or send {dim}",
            loc="/dimensions",
        )
    return truncate_vectors(vectors, dimensions)


def truncate_vectors(vectors: list[Any], dimensions: int) -> list[Any]:
    """The first `dimensions` values of each vector, L2-normalised again."""
    cut = np.asarray(vectors, dtype=np.float32)[:, :dimensions]
    norms = np.linalg.norm(cut, axis=1, keepdims=True)
    return list(cut / np.maximum(norms, 1e-12))


def model_ids(session: Session, project_id: str) -> list[tuple[str, int, str]]:
    """(id, created, owned_by) for every name a client may send as `model`: catalogue encoders, every
    registered `name@version`, `name@alias` for each alias, and the bare `name` (= `name@latest`)."""
    found = [(name, 0, "deepfeat") for name in sorted(PRETRAINED)]
    repo = EncoderRepository(session, project_id)
    after: str | None = None
    while True:
        rows = repo.page(after, 500)
        if not rows:
            return found
        aliases = repo.aliases([r.id for r in rows])
        for row in rows:
            created = int(row.created_at.timestamp()) if row.created_at else 0
            owner = f"project:{project_id}"
            found.append((f"{row.name}@{row.version}", created, owner))
            for alias in aliases.get(row.id, []):
                found.append((row.name if alias == LATEST else f"{row.name}@{alias}", created, owner))
        after = rows[-1].id


def model_id(service: EncoderService, ref: str) -> tuple[str, int, str]:
    """One model by any of its ids, or 404 (OpenAI's `model_not_found`)."""
    if ref in PRETRAINED:
        return ref, 0, "deepfeat"
    try:
        encoder = service.find(ref)
    except NotFound:
        raise NotFound(f"The model `{ref}` does not exist; GET /v1/models lists them", loc="/model") from None
    created = int(encoder.created_at.timestamp()) if encoder.created_at else 0
    return ref, created, f"project:{service.project_id}"
