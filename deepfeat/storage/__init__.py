"""Content-addressed artifact store: the interface, and `open_store` choosing a backend from the settings.

Blobs live at `blobs/<sha[:2]>/<sha>`; the same bytes stored twice are one object. A backend never lets a
reader see half an object: the file store renames a finished temp file into place, the S3 store uploads
in one request or a multipart upload that becomes visible only when it completes. Readers get a *local*
file (`path`): the file store's own, or the S3 store's copy in its bounded local cache, checked against
the sha256 in its key when it was fetched. Run-scoped objects (checkpoints) live under
`checkpoints/<run id>/...`, content-addressed inside that prefix, plus one small pointer object per run.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from deepfeat.errors import ArtifactCorrupt, NotFound

CHUNK = 1 << 20
# What a key may look like: content-addressed blobs, or objects and pointers of one run's checkpoints.
_KEY = re.compile(r"^(blobs|checkpoints/[A-Za-z0-9_-]{1,64})/([0-9a-f]{2}/[0-9a-f]{64}|[a-z]{1,16}\.json)$")


@dataclass(frozen=True)
class StoredBlob:
    key: str  # relative path inside the store; what the DB records
    sha256: str
    size_bytes: int
    # False: the same bytes were already stored (so not ours to remove on failure). Not part of equality:
    # two puts of the same bytes are the same blob.
    created: bool = field(default=True, compare=False)


def check_key(key: str) -> str:
    """`key` if it names an object this store could hold; NotFound for anything else (`../x`, `/etc`)."""
    if not _KEY.match(key):
        raise NotFound(f"artifact {key!r} not found")
    return key


def sha_of_key(key: str) -> str | None:
    """The sha256 a content-addressed key promises (None for pointers)."""
    last = key.rsplit("/", 1)[-1]
    return last if len(last) == 64 else None


def hash_file(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def check_sha(path: Path, sha256: str, what: str) -> Path:
    if not secrets.compare_digest(hash_file(path)[0], sha256):
        raise ArtifactCorrupt(
            f"{what} does not match the sha256 recorded when it was stored; refusing to load it"
        )
    return path


class ArtifactStore(ABC):
    """What every backend offers; callers never learn which one they hold."""

    @property
    @abstractmethod
    def tmp_dir(self) -> Path:
        """Local scratch space: a file written here can be `adopt`ed (by rename, or by upload)."""

    @property
    def is_local(self) -> bool:
        """True when the objects are files of this machine (nothing to cache, checkpoints stay put)."""
        return False

    @abstractmethod
    def _adopt(self, tmp: Path, namespace: str) -> StoredBlob:
        """Store the finished file `tmp` (consumed) under `<namespace>/<sha[:2]>/<sha>`."""

    @abstractmethod
    def path(self, key: str) -> Path:
        """A local file holding the object `key` (NotFound when there is none)."""

    @abstractmethod
    def has(self, key: str) -> bool: ...

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove an object; the caller has checked nothing refers to it any more."""

    @abstractmethod
    def put_pointer(self, key: str, data: bytes) -> None:
        """Replace the small object `key` (a `*.json` key) in one step."""

    @abstractmethod
    def get_pointer(self, key: str) -> bytes | None: ...

    @abstractmethod
    def delete_prefix(self, prefix: str) -> None:
        """Remove every object under `prefix` (e.g. `checkpoints/<run>/`)."""

    @abstractmethod
    def stream(self, key: str) -> tuple[Iterator[bytes], int]:
        """The object's bytes in chunks, and its size: what the API's downloads send."""

    def presigned_url(self, key: str, filename: str, media_type: str, expires_s: int) -> str | None:
        """A URL anyone holding it may GET the object from for `expires_s`, served as the download
        `filename`; None where the backend has none (local files: the API sends them itself)."""
        return None

    def put_bytes(self, data: bytes) -> StoredBlob:
        return self.put_file_from(lambda handle: handle.write(data))

    def put_file_from(self, write: Callable[[IO[bytes]], object], namespace: str = "blobs") -> StoredBlob:
        """Store what `write(handle)` writes into a fresh local file (streamed; never whole in memory)."""
        fd, tmp = tempfile.mkstemp(dir=self.tmp_dir)
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            return self._adopt(Path(tmp), namespace)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def adopt(self, tmp: Path, namespace: str = "blobs") -> StoredBlob:
        """Move a finished file from `tmp_dir` into the store under its sha256 (it is consumed)."""
        if not tmp.resolve().is_relative_to(self.tmp_dir.resolve()):
            raise ValueError(f"{tmp} is not in the store's tmp dir")
        return self._adopt(tmp, namespace)

    def verified(self, key: str, sha256: str, what: str) -> Path:
        """The local file for `key` if its bytes still hash to `sha256`; a file replaced or altered behind
        the store's back (e.g. by a pickle) is refused before any reader sees it."""
        return check_sha(self.path(key), sha256, what)


def fsync_path(path: Path) -> None:
    """Flush a file's or a folder's entries to disk (a rename is durable only once its folder is)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
