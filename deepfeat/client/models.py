"""Answers of routes without a model in deepfeat.specs.

Artifacts have no spec model yet; encoders, extractions and keys are being built by other features.
These keep unknown fields, so a richer server does not break the client.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ArtifactOut(_Open):
    """Mirrors deepfeat.specs.runs.ArtifactOut, tolerant of fields a newer server adds."""

    name: str
    media_type: str
    sha256: str
    size_bytes: int


class EncoderOut(_Open):
    name: str
    version: int | None = None
    modality: str | None = None
    dim: int | None = None
    source: str | None = None


class ExtractionOut(_Open):
    id: str
    status: str
    progress: dict[str, Any] = {}
    error: str | None = None


class KeyOut(_Open):
    id: str
    name: str = ""
    scope: str
    prefix: str | None = None
    key: str | None = None  # the secret: only in the answer to create, never again
    revoked_at: str | None = None


class Embeddings(_Open):
    embeddings: list[list[float]]
    dim: int
    model: str | None = None
    version: int | None = None
