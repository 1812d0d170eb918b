"""The server a command talks to, from the global options, and the one Client built for it."""

from __future__ import annotations

from dataclasses import dataclass, field

import typer

from deepfeat.client import Client, default_key


@dataclass
class Target:
    url: str
    key: str | None
    timeout: float
    _client: Client | None = field(default=None, repr=False)

    def client(self) -> Client:
        if self._client is None:
            key = self.key if self.key else default_key(self.url)
            self._client = Client(self.url, key or "", timeout=self.timeout)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def client(ctx: typer.Context) -> Client:
    """The Client for this invocation (the root callback put a Target in `ctx.obj`)."""
    target: Target = ctx.find_root().obj
    return target.client()
