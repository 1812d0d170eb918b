"""Artifact downloads: a local file is sent as is; an object in S3 is streamed through, chunk by chunk, or
(opt-in, `DEEPFEAT_S3_PRESIGNED_DOWNLOADS`) the client is redirected to a short-lived presigned URL and
fetches the bytes from the store itself, sparing the API host the transfer."""

from __future__ import annotations

from urllib.parse import quote

from fastapi.responses import FileResponse, RedirectResponse, StreamingResponse
from starlette.responses import Response

from deepfeat.config import Settings
from deepfeat.storage import ArtifactStore


def artifact_response(
    store: ArtifactStore,
    key: str,
    media_type: str,
    filename: str,
    sha256: str | None = None,
    settings: Settings | None = None,
) -> Response:
    """The object `key` as a download named `filename` (never read whole into memory)."""
    headers = {"X-Content-SHA256": sha256} if sha256 else {}
    if store.is_local:
        return FileResponse(store.path(key), media_type=media_type, filename=filename, headers=headers)
    if settings is not None and settings.s3_presigned_downloads:
        url = store.presigned_url(key, filename, media_type, settings.s3_presigned_expiry_s)
        if url is not None:
            # 307: the client repeats the same GET there; the sha256 travels on this answer.
            return RedirectResponse(url, status_code=307, headers=headers | {"Cache-Control": "no-store"})
    chunks, size = store.stream(key)
    headers |= {
        "Content-Length": str(size),
        "Content-Disposition": f"attachment; filename*=utf-8''{quote(filename)}",
    }
    return StreamingResponse(chunks, media_type=media_type, headers=headers)
