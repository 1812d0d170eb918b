"""HTTP hygiene for every response: no MIME sniffing, no caching of API answers, bounded JSON bodies,
and CORS closed unless origins are configured."""

from __future__ import annotations

import json

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deepfeat.config import Settings

_LIMITED_TYPES = (b"application/json", b"application/x-www-form-urlencoded", b"text/")


class HygieneMiddleware:
    """Pure ASGI (streams stay streams): headers on the way out, a byte count on the way in."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        limited = headers.get(b"content-type", b"").startswith(_LIMITED_TYPES)
        declared = headers.get(b"content-length", b"")
        if limited and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(send)
            return
        api = scope["path"].startswith("/v1")
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if limited and message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge
            return message

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"x-content-type-options", b"nosniff")]
                names = {name.lower() for name, _ in message.get("headers", [])}
                if api and b"cache-control" not in names:
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        try:
            await self.app(scope, counted_receive, send_with_headers)
        except BodyTooLarge:
            await self._too_large(send)

    async def _too_large(self, send: Send) -> None:
        body = json.dumps(
            {
                "error": "payload_too_large",
                "detail": f"request body is over the limit of {self.max_body_bytes} bytes",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-content-type-options", b"nosniff"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    pass


def install_hygiene(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(HygieneMiddleware, max_body_bytes=settings.max_json_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        )
