"""The file backend: objects are files under one root (`file://` URLs; the single-machine default).

Writes go to a temp file, are fsynced and then `os.replace`d into place, so a reader never sees half an
object; pointers are replaced the same way.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from deepfeat.errors import NotFound
from deepfeat.storage import CHUNK, ArtifactStore, StoredBlob, check_key, fsync_path, hash_file


class FileStore(ArtifactStore):
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    @property
    def is_local(self) -> bool:
        return True

    def _adopt(self, tmp: Path, namespace: str) -> StoredBlob:
        sha, size = hash_file(tmp)
        key = check_key(f"{namespace}/{sha[:2]}/{sha}")
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        created = not target.exists()
        if created:
            os.replace(tmp, target)
            fsync_path(target.parent)
        else:
            tmp.unlink()
        return StoredBlob(key=key, sha256=sha, size_bytes=size, created=created)

    def has(self, key: str) -> bool:
        try:
            self.path(key)
        except NotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        with contextlib.suppress(NotFound):
            self.path(key).unlink(missing_ok=True)

    def path(self, key: str) -> Path:
        """The file for `key`, refusing anything that would resolve outside the store."""
        candidate = (self.root / check_key(key)).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            raise NotFound(f"artifact {key!r} not found")
        return candidate

    def put_pointer(self, key: str, data: bytes) -> None:
        target = self.root / check_key(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.tmp_dir)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)

    def get_pointer(self, key: str) -> bytes | None:
        try:
            return self.path(key).read_bytes()
        except NotFound:
            return None

    def delete_prefix(self, prefix: str) -> None:
        target = (self.root / prefix).resolve()
        if target.is_relative_to(self.root / "checkpoints"):
            shutil.rmtree(target, ignore_errors=True)

    def stream(self, key: str) -> tuple[Iterator[bytes], int]:
        path = self.path(key)

        def chunks() -> Iterator[bytes]:
            with path.open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    yield chunk

        return chunks(), path.stat().st_size
