"""A bounded local cache of objects fetched from a remote store, shared by the processes of one machine.

Entries are files at `<root>/objects/<key>`, written to a temp file in the cache and renamed into place,
so a reader (which memory-maps them) sees a whole object or none. A per-key `fcntl` lock makes
concurrent processes wanting the same object fetch it once; a cache-wide lock serialises eviction, which
removes the least recently used entries (by mtime, refreshed on every hit) until the cache is within its
byte budget. Removing a file another process has mapped is safe on POSIX: its pages live until unmapped.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from deepfeat.storage import fsync_path


class BlobCache:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root.resolve()
        self.max_bytes = max_bytes
        for sub in ("objects", "tmp", "locks"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.hits = 0
        self.misses = 0

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    def entry(self, key: str) -> Path:
        return self.root / "objects" / key

    def get(self, key: str, fetch: Callable[[Path], None]) -> Path:
        """The cached file for `key`; on a miss `fetch(tmp)` fills a temp file that then becomes it."""
        path = self.entry(key)
        if self._touch(path):
            self.hits += 1
            return path
        with _locked(self.root / "locks" / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".lock")):
            if self._touch(path):  # another process fetched it while we waited
                self.hits += 1
                return path
            fd, name = tempfile.mkstemp(dir=self.tmp_dir)
            os.close(fd)
            tmp = Path(name)
            try:
                fetch(tmp)
                path.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, path)
                fsync_path(path.parent)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            self.misses += 1
        self.evict(keep=path)
        return path

    def adopt(self, key: str, tmp: Path) -> Path:
        """Put a local file we already hold (just uploaded) into the cache under `key` (it is consumed)."""
        path = self.entry(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, path)
        self.evict(keep=path)
        return path

    def discard(self, key: str) -> None:
        self.entry(key).unlink(missing_ok=True)

    def evict(self, keep: Path | None = None) -> None:
        """Remove least recently used entries until the cache holds at most `max_bytes`."""
        with _locked(self.root / "locks" / "evict.lock"):
            entries = []
            for path in (self.root / "objects").rglob("*"):
                with contextlib.suppress(FileNotFoundError):
                    if path.is_file():
                        stat = path.stat()
                        entries.append((stat.st_mtime_ns, stat.st_size, path))
            total = sum(size for _, size, _ in entries)
            for _, size, path in sorted(entries, key=lambda e: e[0]):
                if total <= self.max_bytes:
                    break
                if path != keep:
                    path.unlink(missing_ok=True)
                    total -= size

    @staticmethod
    def _touch(path: Path) -> bool:
        try:
            os.utime(path)  # the LRU clock: a hit makes the entry the newest
        except FileNotFoundError:
            return False
        return True


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
