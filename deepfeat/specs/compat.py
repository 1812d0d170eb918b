"""Request and answer shapes of other servers' APIs that deepfeat also speaks: OpenAI's model list and
error envelope, and text-embeddings-inference (TEI)'s `/embed` and `/info`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from deepfeat.specs.base import ResponseModel, SpecModel


class OpenAIModel(ResponseModel):
    id: str = Field(description="what to pass as `model`: a catalogue name, `name@version` or `name@alias`")
    object: Literal["model"] = "model"
    created: int = Field(description="Unix seconds (0 for catalogue encoders shipped in packages)")
    owned_by: str


class OpenAIModelList(ResponseModel):
    object: Literal["list"] = "list"
    data: list[OpenAIModel]


class OpenAIError(ResponseModel):
    message: str
    type: str = Field(description="`invalid_request_error`, `authentication_error`, `rate_limit_error`, …")
    param: str | None = Field(description="the request field at fault, when there is one")
    code: str | None = Field(description="`model_not_found`, `invalid_api_key`, or deepfeat's error type")


class OpenAIErrorBody(ResponseModel):
    error: OpenAIError


class TEIEmbedRequest(SpecModel):
    inputs: str | list[str] = Field(description="a string or a list of strings")
    normalize: bool = True
    truncate: bool | None = Field(
        default=None, description="cut inputs longer than the encoder takes; false (default): 422 instead"
    )
    truncation_direction: Literal["Left", "Right", "left", "right"] = "Right"
    prompt_name: str | None = Field(default=None, max_length=200)
    dimensions: int | None = Field(default=None, ge=1, le=65536)
    encoding_format: Literal["float"] = "float"


class TEIErrorBody(ResponseModel):
    error: str
    error_type: str


class TEIInfo(ResponseModel):
    model_id: str
    model_sha: str | None
    model_dtype: str
    model_type: dict[str, dict[str, str]]
    max_concurrent_requests: int
    max_input_length: int
    max_batch_tokens: int
    max_batch_requests: int | None
    max_client_batch_size: int
    auto_truncate: bool
    tokenization_workers: int
    version: str
    sha: str | None = None
    docker_label: str | None = None
