"""Choose the artifact store from the settings: `file://` (default: the data dir) or `s3://`."""

from __future__ import annotations

import os
from pathlib import Path

from deepfeat.config import Settings
from deepfeat.storage import ArtifactStore
from deepfeat.storage.cache import BlobCache
from deepfeat.storage.local import FileStore
from deepfeat.storage.s3 import S3Store

# One store per process and configuration: a boto3 client is costly to make and must not cross a fork.
_open: dict[tuple[int, str, str | None, Path], ArtifactStore] = {}


def open_store(settings: Settings) -> ArtifactStore:
    """The store every process of this deployment shares (the same URL everywhere)."""
    url = settings.artifact_url or settings.artifacts_dir.as_uri()
    ident = (os.getpid(), url, settings.s3_endpoint_url, settings.resolved_cache_dir)
    if ident not in _open:
        _open[ident] = _make(url, settings)
    return _open[ident]


def _make(url: str, settings: Settings) -> ArtifactStore:
    if url.startswith("file://"):
        return FileStore(Path(url.removeprefix("file://")))
    if url.startswith("s3://"):
        cache = BlobCache(settings.resolved_cache_dir, settings.cache_max_bytes)
        return S3Store(url, cache, settings.s3_endpoint_url, settings.s3_max_attempts)
    raise ValueError(f"DEEPFEAT_ARTIFACT_URL must start with file:// or s3:// (got {url!r})")
