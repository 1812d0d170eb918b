"""`deepfeat keys create|list|revoke` (admin keys only; needs the server's key routes)."""

from __future__ import annotations

from typing import Annotated

import typer

from deepfeat.cli.context import client
from deepfeat.cli.output import JsonFlag, err, out, print_json, table

app = typer.Typer(help="Manage API keys of this project (needs an admin key).", no_args_is_help=True)


@app.command()
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What the key is for, e.g. `ci` or `notebook`.")],
    scope: Annotated[str, typer.Option(help="read, write or admin.")] = "write",
    as_json: JsonFlag = False,
) -> None:
    """Create a key; its secret is printed once and never shown again."""
    key = client(ctx).create_key(name, scope=scope)
    if as_json:
        print_json(key)
        return
    out.print(key.key or "")
    err.print(f"key {key.id} ({key.scope}) created; store the secret above now, it is not shown again")


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """The project's keys (prefixes only, never secrets)."""
    keys = client(ctx).keys()
    if as_json:
        print_json(keys)
        return
    table(
        ["id", "name", "scope", "prefix", "created", "revoked"],
        [(k.id, k.name, k.scope, k.prefix, getattr(k, "created_at", None), k.revoked_at) for k in keys],
    )


@app.command()
def revoke(ctx: typer.Context, key_id: str) -> None:
    """Revoke a key; requests with it fail from the next one on."""
    client(ctx).revoke_key(key_id)
    out.print(f"revoked key {key_id}")
