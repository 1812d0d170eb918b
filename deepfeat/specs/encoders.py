"""Encoder catalogue entries, registration, and embedding requests/answers (ours and OpenAI's shape)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from deepfeat.specs.base import ResponseModel, SpecModel

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,99}$"
ALIAS_PATTERN = r"^[a-z][a-z0-9._-]{0,49}$"


class EncoderOut(ResponseModel):
    id: str
    name: str
    ref: str = Field(description="what to pass as an encoder: `minilm-l6` or `name@version`")
    kind: Literal["pretrained", "registered"]
    version: int | None
    modality: str
    dim: int
    input: str | list[int]
    preprocessing: str
    source: str = Field(description="the pip requirement that ships the weights, or `run:<run id>`")
    run_id: str | None
    licence: str | None
    sha256: str | None = Field(description="of the weights file (checked at load)")
    layer: str | None
    default_pool: str
    default_normalize: bool
    aliases: list[str]
    created_at: datetime | None
    archived_at: datetime | None = None


class EncoderDetail(EncoderOut):
    serving: dict[str, Any] = Field(
        description="how this server runs it: `engine` (onnx|torch), `device`, `default_precision`, and per "
        "precision (fp32, bf16, int8) its engine and min cosine to fp32 on a fixed probe set"
    )


class EncoderPage(ResponseModel):
    data: list[EncoderOut]
    next_after: str | None


class RegisterEncoder(SpecModel):
    run_id: str = Field(min_length=1, max_length=40)
    name: str = Field(pattern=NAME_PATTERN, description="lower-case letters, digits, `.`, `_`, `-`")
    layer: str | None = Field(
        default=None, max_length=200, description="a named module; default: the run's forward_features"
    )


class AliasRequest(SpecModel):
    alias: str = Field(pattern=ALIAS_PATTERN)
    version: int = Field(ge=1, le=2**31 - 1)


class AliasOut(ResponseModel):
    name: str
    alias: str
    version: int


class EmbedRequest(SpecModel):
    inputs: list[Any] = Field(
        min_length=1, description="strings (text), base64 PNG/JPEG (image) or numeric arrays (trained runs)"
    )
    layer: str | None = Field(default=None, max_length=200)
    pool: Literal["mean", "max", "cls", "none"] | None = Field(
        default=None, description="default: `mean` (the catalogue entry's)"
    )
    normalize: bool | None = Field(default=None, description="L2-normalise; default: the encoder's")
    precision: Literal["fp32", "bf16", "int8", "auto"] | None = Field(
        default=None,
        description="default: the server's (DEEPFEAT_EMBED_PRECISION); int8 runs the quantised ONNX graph; "
        "auto: bf16 for large batches where the CPU has bf16 units",
    )


class EmbedResponse(ResponseModel):
    embeddings: list[Any]
    dim: int
    model: str
    version: int | None
    layer: str | None
    pool: str
    normalized: bool
    precision: str


class OpenAIEmbeddingRequest(SpecModel):
    model: str = Field(min_length=1, max_length=200)
    input: str | list[str] | list[int] | list[list[int]] = Field(
        description="a string, a list of strings, or token ids of the encoder's own tokenizer "
        "(one list of ids, or a list of them)"
    )
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(
        default=None,
        ge=1,
        le=65536,
        description="the encoder's dimension; smaller only where the encoder supports truncation",
    )
    user: str | None = Field(default=None, max_length=200)


class OpenAIEmbedding(ResponseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class OpenAIUsage(ResponseModel):
    prompt_tokens: int
    total_tokens: int


class OpenAIEmbeddingResponse(ResponseModel):
    object: Literal["list"] = "list"
    data: list[OpenAIEmbedding]
    model: str
    usage: OpenAIUsage
