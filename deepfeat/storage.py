"""Content-addressed artifact store on local disk.

Blobs live at `blobs/<sha[:2]>/<sha>`; the same bytes stored twice share one file. Writes go to a temp
file, are fsynced and then `os.replace`d into place, so a reader never sees half a blob. The interface
(put/open/path by key) is small enough to back with an object store later.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from deepfeat.errors import ArtifactCorrupt, NotFound

CHUNK = 1 << 20


@dataclass(frozen=True)
class StoredBlob:
    key: str  # relative path inside the store; what the DB records
    sha256: str
    size_bytes: int
    # False: the same bytes were already stored (so not ours to remove on failure). Not part of equality:
    # two puts of the same bytes are the same blob.
    created: bool = field(default=True, compare=False)


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)

    def put_bytes(self, data: bytes) -> StoredBlob:
        return self.put_file_from(lambda handle: handle.write(data))

    def put_file_from(self, write: Callable[[IO[bytes]], object]) -> StoredBlob:
        """Store what `write(handle)` writes into a fresh file (streamed; never whole in memory)."""
        fd, tmp = tempfile.mkstemp(dir=self.root / "tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            return self._adopt(Path(tmp))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @property
    def tmp_dir(self) -> Path:
        """Scratch space on the store's file system: a file written here can be `adopt`ed by rename."""
        return self.root / "tmp"

    def adopt(self, tmp: Path) -> StoredBlob:
        """Move a finished file from `tmp_dir` into the store under its sha256 (it is consumed)."""
        if not tmp.resolve().is_relative_to(self.tmp_dir):
            raise ValueError(f"{tmp} is not in the store's tmp dir")
        return self._adopt(tmp)

    def has(self, key: str) -> bool:
        try:
            self.path(key)
        except NotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        """Remove a blob; the caller has checked nothing refers to it any more."""
        with contextlib.suppress(NotFound):
            self.path(key).unlink(missing_ok=True)

    def _adopt(self, tmp: Path) -> StoredBlob:
        digest = hashlib.sha256()
        size = 0
        with tmp.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
        sha = digest.hexdigest()
        key = f"blobs/{sha[:2]}/{sha}"
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        created = not target.exists()
        if created:
            os.replace(tmp, target)
            fsync_path(target.parent)
        else:
            tmp.unlink()
        return StoredBlob(key=key, sha256=sha, size_bytes=size, created=created)

    def verified(self, key: str, sha256: str, what: str) -> Path:
        """The file for `key` if its bytes still hash to `sha256`; a file replaced or altered behind the
        store's back (e.g. by a pickle) is refused before any reader sees it."""
        path = self.path(key)
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
        if not secrets.compare_digest(digest.hexdigest(), sha256):
            raise ArtifactCorrupt(
                f"{what} does not match the sha256 recorded when it was stored; refusing to load it"
            )
        return path

    def path(self, key: str) -> Path:
        """The file for `key`, refusing anything that would resolve outside the store."""
        candidate = (self.root / key).resolve()
        if not candidate.is_relative_to(self.root / "blobs") or not candidate.is_file():
            raise NotFound(f"artifact {key!r} not found")
        return candidate


def fsync_path(path: Path) -> None:
    """Flush a file's or a folder's entries to disk (a rename is durable only once its folder is)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
