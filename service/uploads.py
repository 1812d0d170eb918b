"""Stream a multipart upload to a file in the store's scratch folder, never whole in memory.

Starlette's `request.form()` would spool the whole body to a temp file before we could look at its size,
so a 50 GiB body fills the disk before a 413. Parsing the stream ourselves stops at the cap: the file
part is hashed and written as it arrives, the other fields are small strings, and a refused upload
leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from deepfeat.errors import BadRequest, PayloadTooLarge

FIELD_MAX_BYTES = 64 * 1024
FIELDS_MAX = 32
FILE_FIELD = "file"


@dataclass
class Upload:
    path: Path  # in the store's tmp dir; the caller adopts or deletes it
    filename: str | None
    size_bytes: int
    sha256: str
    fields: dict[str, str] = field(default_factory=dict)


class _Receiver:
    def __init__(self, tmp_dir: Path, max_bytes: int) -> None:
        fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
        self.path = Path(name)
        self.handle = os.fdopen(fd, "wb")
        self.max_bytes = max_bytes
        self.size = 0
        self.digest = hashlib.sha256()
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.seen_file = False
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name: str | None = None
        self._is_file = False
        self._value = bytearray()

    def on_part_begin(self) -> None:
        self._headers, self._name, self._is_file, self._value = {}, None, False, bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field, self._header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        self._name = name
        self._is_file = name == FILE_FIELD
        if self._is_file:
            if self.seen_file:
                raise BadRequest("send one `file` part per upload")
            self.seen_file = True
            raw = options.get(b"filename")
            self.filename = os.path.basename(raw.decode("utf-8", "replace")) if raw else None
        elif len(self.fields) >= FIELDS_MAX:
            raise BadRequest(f"more than {FIELDS_MAX} form fields")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._is_file:
            self.size += len(chunk)
            if self.size > self.max_bytes:
                raise PayloadTooLarge(
                    f"the file is over the upload limit of {self.max_bytes} bytes", limit=self.max_bytes
                )
            self.digest.update(chunk)
            self.handle.write(chunk)
        else:
            self._value += chunk
            if len(self._value) > FIELD_MAX_BYTES:
                raise BadRequest(f"form field {self._name!r} is over {FIELD_MAX_BYTES} bytes")

    def on_part_end(self) -> None:
        if not self._is_file and self._name:
            self.fields[self._name] = self._value.decode("utf-8", "replace")

    def finish(self) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()

    def discard(self) -> None:
        self.handle.close()
        self.path.unlink(missing_ok=True)


async def receive_upload(request: Request, tmp_dir: Path, max_bytes: int) -> Upload:
    """Read a `multipart/form-data` body with a `file` part of at most `max_bytes` (413 beyond)."""
    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise BadRequest("multipart body without a boundary")
    declared = request.headers.get("content-length")
    # A declared length past the cap (plus room for the form's own framing) is refused unread.
    if declared and declared.isdigit() and int(declared) > max_bytes + FIELDS_MAX * FIELD_MAX_BYTES:
        raise PayloadTooLarge(f"the upload is over the limit of {max_bytes} bytes", limit=max_bytes)
    receiver = _Receiver(tmp_dir, max_bytes)
    try:
        parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": receiver.on_part_begin,
                "on_part_data": receiver.on_part_data,
                "on_part_end": receiver.on_part_end,
                "on_header_field": receiver.on_header_field,
                "on_header_value": receiver.on_header_value,
                "on_header_end": receiver.on_header_end,
                "on_headers_finished": receiver.on_headers_finished,
            },
        )
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
        if not receiver.seen_file:
            raise BadRequest("the multipart body has no `file` part", loc="/file")
        await run_in_threadpool(receiver.finish)
    except BaseException as exc:
        receiver.discard()
        if isinstance(exc, (BadRequest, PayloadTooLarge)):
            raise
        if isinstance(exc, Exception) and type(exc).__module__.startswith("python_multipart"):
            raise BadRequest(f"malformed multipart body: {exc}") from None
        raise
    return Upload(
        receiver.path, receiver.filename, receiver.size, receiver.digest.hexdigest(), receiver.fields
    )
