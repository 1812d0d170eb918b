"""The S3 backend (`s3://bucket/prefix`): AWS S3, MinIO, Ceph or anything speaking the S3 API.

boto3's transfer manager streams files from and to disk in parts (a multipart upload above
`MULTIPART_THRESHOLD`), so no object is ever whole in memory, and a multipart upload becomes visible only
when it completes: no reader can see half an object. Credentials come from boto3's standard chain (the
AWS_* variables, the shared config files, an instance role); `DEEPFEAT_S3_ENDPOINT_URL` points it at a
non-AWS service. Transient failures (connection errors, throttling, 5xx) are retried by botocore with
exponential backoff before an error reaches the caller.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from deepfeat.errors import ArtifactCorrupt, NotFound
from deepfeat.storage import CHUNK, ArtifactStore, StoredBlob, check_key, hash_file, sha_of_key
from deepfeat.storage.cache import BlobCache

MULTIPART_THRESHOLD = 16 * 2**20
# Parts in flight are buffered: 4 x 8 MiB bounds the memory of an upload or download whatever its size.
TRANSFER = TransferConfig(
    multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=8 * 2**20, max_concurrency=4
)
_MISSING = {"404", "NoSuchKey", "NotFound"}


def split_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` → (`bucket`, `some/prefix/`)."""
    rest = url.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ValueError(f"artifact URL {url!r} names no bucket (s3://bucket/prefix)")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


class S3Store(ArtifactStore):
    def __init__(
        self, url: str, cache: BlobCache, endpoint_url: str | None = None, max_attempts: int = 5
    ) -> None:
        self.bucket, self.prefix = split_url(url)
        self.cache = cache
        config = Config(
            retries={"max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=5,
            signature_version="s3v4",  # also for presigned URLs (botocore would presign some with SigV2)
        )
        self.client: Any = boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)

    @property
    def tmp_dir(self) -> Path:
        return self.cache.tmp_dir

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _adopt(self, tmp: Path, namespace: str) -> StoredBlob:
        sha, size = hash_file(tmp)
        key = check_key(f"{namespace}/{sha[:2]}/{sha}")
        created = not self.has(key)
        if created:
            # ChecksumSHA256 would make the server check too, but multipart parts then need their own;
            # the key itself is the checksum every reader verifies.
            self.client.upload_file(str(tmp), self.bucket, self._name(key), Config=TRANSFER)
        self.cache.adopt(key, tmp)  # this process will likely read it next (e.g. parsing an upload)
        return StoredBlob(key=key, sha256=sha, size_bytes=size, created=created)

    def path(self, key: str) -> Path:
        name = self._name(key)

        def fetch(tmp: Path) -> None:
            try:
                self.client.download_file(self.bucket, name, str(tmp), Config=TRANSFER)
            except ClientError as exc:
                if _code(exc) in _MISSING:
                    raise NotFound(f"artifact {key!r} not found") from None
                raise
            expected = sha_of_key(key)
            if expected is not None and hash_file(tmp)[0] != expected:
                raise ArtifactCorrupt(
                    f"object {key} in the store does not match its sha256; refusing to load it"
                )

        return self.cache.get(key, fetch)

    def has(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        except NotFound:
            return False
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._name(key))
        self.cache.discard(key)

    def put_pointer(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._name(key), Body=data)

    def get_pointer(self, key: str) -> bytes | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise
        data: bytes = response["Body"].read()
        return data

    def delete_prefix(self, prefix: str) -> None:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix
        )
        for page in pages:
            names = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if names:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": names, "Quiet": True})
            for item in names:
                self.cache.discard(item["Key"].removeprefix(self.prefix))

    def presigned_url(self, key: str, filename: str, media_type: str, expires_s: int) -> str | None:
        """Signed locally (no request): a missing object answers 404 from S3 to whoever follows it, so
        callers presign only keys their rows name."""
        params = {
            "Bucket": self.bucket,
            "Key": self._name(key),
            "ResponseContentType": media_type,
            "ResponseContentDisposition": f"attachment; filename*=utf-8''{quote(filename)}",
        }
        url: str = self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_s)
        return url

    def stream(self, key: str) -> tuple[Iterator[bytes], int]:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise NotFound(f"artifact {key!r} not found") from None
            raise
        body = response["Body"]

        def chunks() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(CHUNK)
            finally:
                body.close()

        return chunks(), int(response["ContentLength"])


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
