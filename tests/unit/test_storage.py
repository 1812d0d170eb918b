from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from deepfeat.errors import NotFound
from deepfeat.storage import ArtifactStore


def test_same_bytes_share_one_blob_with_their_sha256(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    a, b = store.put_bytes(b"weights"), store.put_bytes(b"weights")
    assert a == b
    assert a.sha256 == hashlib.sha256(b"weights").hexdigest()
    assert a.size_bytes == 7
    assert store.path(a.key).read_bytes() == b"weights"
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)

    def broken(handle: object) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        store.put_file_from(broken)
    assert list((tmp_path / "tmp").iterdir()) == []
    assert list((tmp_path / "blobs").iterdir()) == []


@pytest.mark.parametrize("key", ["../secret", "/etc/passwd", "blobs/../../x", "blobs/zz/missing", "tmp/x"])
def test_keys_outside_the_store_or_missing_are_not_found(tmp_path: Path, key: str) -> None:
    (tmp_path / "secret").write_text("no")
    store = ArtifactStore(tmp_path / "store")
    with pytest.raises(NotFound):
        store.path(key)
