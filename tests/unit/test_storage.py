"""The artifact store's promises, on both backends: the file store and S3 (a real `moto_server`)."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from deepfeat.config import Settings
from deepfeat.errors import ArtifactCorrupt, NotFound
from deepfeat.storage import ArtifactStore
from deepfeat.storage.backends import open_store
from deepfeat.storage.cache import BlobCache
from deepfeat.storage.local import FileStore
from deepfeat.storage.s3 import MULTIPART_THRESHOLD, S3Store, split_url


def _settings(tmp_path: Path, url: str | None, endpoint: str | None, cache: str = "cache") -> Settings:
    return Settings(
        data_dir=tmp_path / "var", artifact_url=url, s3_endpoint_url=endpoint, cache_dir=tmp_path / cache
    )


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "file":
        return open_store(_settings(tmp_path, None, None))
    url = request.getfixturevalue("s3_url")
    return open_store(_settings(tmp_path, url, request.getfixturevalue("s3_endpoint")))


def objects(store: ArtifactStore) -> list[str]:
    """Every object the store holds, by key."""
    if isinstance(store, FileStore):
        return sorted(
            str(p.relative_to(store.root))
            for p in store.root.rglob("*")
            if p.is_file()
            if not p.is_relative_to(store.tmp_dir)
        )
    assert isinstance(store, S3Store)
    listed = store.client.list_objects_v2(Bucket=store.bucket, Prefix=store.prefix)
    return sorted(item["Key"].removeprefix(store.prefix) for item in listed.get("Contents", []))


def test_same_bytes_share_one_blob_with_their_sha256(store: ArtifactStore) -> None:
    a, b = store.put_bytes(b"weights"), store.put_bytes(b"weights")
    assert a == b
    assert (a.created, b.created) == (True, False)
    assert a.sha256 == hashlib.sha256(b"weights").hexdigest()
    assert a.size_bytes == 7
    assert store.path(a.key).read_bytes() == b"weights"
    assert objects(store) == [a.key]
    assert list(store.tmp_dir.iterdir()) == []


def test_a_failed_write_leaves_nothing_behind(store: ArtifactStore) -> None:
    def broken(handle: Any) -> None:
        handle.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        store.put_file_from(broken)
    assert list(store.tmp_dir.iterdir()) == []
    assert objects(store) == []


@pytest.mark.parametrize(
    "key", ["../secret", "/etc/passwd", "blobs/../../x", "blobs/zz/missing", "tmp/x", "blobs/ab/" + "0" * 64]
)
def test_keys_outside_the_store_or_missing_are_not_found(store: ArtifactStore, key: str) -> None:
    with pytest.raises(NotFound):
        store.path(key)
    assert not store.has(key)


def test_a_large_blob_streams_through_in_parts(store: ArtifactStore, tmp_path: Path) -> None:
    size = MULTIPART_THRESHOLD + 3 * 2**20
    payload = os.urandom(size)
    source = store.tmp_dir / "big"
    source.write_bytes(payload)
    blob = store.adopt(source)
    assert not source.exists()  # consumed
    assert blob.size_bytes == size
    chunks, length = store.stream(blob.key)
    assert length == size
    assert hashlib.sha256(b"".join(chunks)).hexdigest() == blob.sha256
    if isinstance(store, S3Store):  # a multipart upload: visible only once completed, as one object
        head = store.client.head_object(Bucket=store.bucket, Key=store.prefix + blob.key)
        assert head["ETag"].strip('"').endswith("-3")


def test_pointers_replace_in_one_step_and_prefixes_go_together(store: ArtifactStore) -> None:
    key = "checkpoints/run_1/latest.json"
    assert store.get_pointer(key) is None
    store.put_pointer(key, b'{"epoch": 1}')
    store.put_pointer(key, b'{"epoch": 2}')
    assert store.get_pointer(key) == b'{"epoch": 2}'
    scoped = store.put_file_from(lambda h: h.write(b"state"), namespace="checkpoints/run_1")
    other = store.put_file_from(lambda h: h.write(b"state"), namespace="checkpoints/run_2")
    assert scoped.key.startswith("checkpoints/run_1/")
    assert scoped.key != other.key
    store.delete_prefix("checkpoints/run_1/")
    assert store.get_pointer(key) is None
    assert objects(store) == [other.key]


def test_a_store_verifies_bytes_against_the_recorded_sha256(store: ArtifactStore) -> None:
    blob = store.put_bytes(b"weights")
    assert store.verified(blob.key, blob.sha256, "w").read_bytes() == b"weights"
    with pytest.raises(ArtifactCorrupt):
        store.verified(blob.key, hashlib.sha256(b"other").hexdigest(), "the weights")


def test_another_host_reads_what_one_host_wrote_and_refuses_altered_bytes(
    tmp_path: Path, s3_url: str, s3_endpoint: str
) -> None:
    writer = open_store(_settings(tmp_path, s3_url, s3_endpoint, "cache-a"))
    reader = open_store(_settings(tmp_path, s3_url, s3_endpoint, "cache-b"))
    blob = writer.put_bytes(b"dataset bytes")
    assert reader.path(blob.key).read_bytes() == b"dataset bytes"
    assert reader.path(blob.key).is_relative_to(tmp_path / "cache-b")
    # Bytes swapped in the bucket behind the store's back are refused by a host that fetches them.
    bucket, prefix = split_url(s3_url)
    boto3.client("s3", endpoint_url=s3_endpoint).put_object(
        Bucket=bucket, Key=prefix + blob.key, Body=b"evil"
    )
    third = open_store(_settings(tmp_path, s3_url, s3_endpoint, "cache-c"))
    with pytest.raises(ArtifactCorrupt):
        third.path(blob.key)
    assert not (tmp_path / "cache-c" / "objects" / blob.key).exists()  # nothing kept of the bad copy


def test_the_cache_evicts_least_recently_used_bytes(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "c", max_bytes=250)
    fetched: list[str] = []

    def filler(key: str) -> Any:
        def fetch(tmp: Path) -> None:
            fetched.append(key)
            tmp.write_bytes(b"x" * 100)

        return fetch

    for key in ("blobs/aa/a", "blobs/bb/b"):
        cache.get(key, filler(key))
    cache.get("blobs/aa/a", filler("blobs/aa/a"))  # a hit makes `a` the newest
    os.utime(cache.entry("blobs/bb/b"), ns=(1, 1))  # and `b` clearly the oldest
    cache.get("blobs/cc/c", filler("blobs/cc/c"))  # 300 bytes > 250: the least recently used goes
    assert fetched == ["blobs/aa/a", "blobs/bb/b", "blobs/cc/c"]
    assert cache.entry("blobs/aa/a").exists()
    assert cache.entry("blobs/cc/c").exists()
    assert not cache.entry("blobs/bb/b").exists()
    assert (cache.hits, cache.misses) == (1, 3)
    assert list(cache.tmp_dir.iterdir()) == []


def _fetch_once(root: str, log: str) -> str:
    """In its own process: read one key through the shared cache folder, logging each real fetch."""

    def fetch(tmp: Path) -> None:
        with open(log, "a") as handle:
            handle.write("fetch\n")
        time.sleep(0.5)  # long enough that the other process arrives while this one fetches
        tmp.write_bytes(b"y" * 1000)

    return str(BlobCache(Path(root), max_bytes=10**6).get("blobs/dd/d", fetch).read_bytes()[:1])


def test_processes_sharing_a_cache_fetch_an_object_once(tmp_path: Path) -> None:
    log = tmp_path / "fetches.log"
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.starmap(_fetch_once, [(str(tmp_path / "c"), str(log))] * 2)
    assert results == ["b'y'", "b'y'"]
    assert log.read_text() == "fetch\n"
