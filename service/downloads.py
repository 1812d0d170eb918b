"""Artifact downloads: a local file is sent as is; an object in S3 is streamed through, chunk by chunk."""

from __future__ import annotations

from urllib.parse import quote

from fastapi.responses import FileResponse, StreamingResponse
from starlette.responses import Response

from deepfeat.storage import ArtifactStore


def artifact_response(
    store: ArtifactStore, key: str, media_type: str, filename: str, sha256: str | None = None
) -> Response:
    """The object `key` as a download named `filename` (never read whole into memory)."""
    headers = {"X-Content-SHA256": sha256} if sha256 else {}
    if store.is_local:
        return FileResponse(store.path(key), media_type=media_type, filename=filename, headers=headers)
    chunks, size = store.stream(key)
    headers |= {
        "Content-Length": str(size),
        "Content-Disposition": f"attachment; filename*=utf-8''{quote(filename)}",
    }
    return StreamingResponse(chunks, media_type=media_type, headers=headers)
