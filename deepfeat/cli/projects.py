"""`deepfeat projects create|list|show|keys` (an admin key of the deployment's `default` project)."""

from __future__ import annotations

from typing import Annotated

import typer

from deepfeat.cli.context import client
from deepfeat.cli.output import JsonFlag, err, out, print_json, table

app = typer.Typer(
    help="Manage the deployment's projects (needs a deployment admin key).", no_args_is_help=True
)


@app.command()
def create(ctx: typer.Context, name: str, as_json: JsonFlag = False) -> None:
    """Create a project; then give it a key with `deepfeat projects keys PROJECT --new`."""
    project = client(ctx).create_project(name)
    if as_json:
        print_json(project)
        return
    out.print(project.id)
    err.print(f"project {project.name!r} created")


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Every project of the deployment."""
    projects = list(client(ctx).projects())
    if as_json:
        print_json(projects)
        return
    table(["id", "name", "created"], [(p.id, p.name, p.created_at) for p in projects])


@app.command()
def show(ctx: typer.Context, project: str, as_json: JsonFlag = False) -> None:
    """One project (id or name) and the bytes its datasets and artifacts take."""
    found = client(ctx).project(project)
    if as_json:
        print_json(found)
        return
    usage = found.usage
    table(
        ["id", "name", "datasets bytes", "artifacts bytes", "total bytes"],
        [
            (
                found.id,
                found.name,
                usage.datasets_bytes if usage else None,
                usage.artifacts_bytes if usage else None,
                usage.total_bytes if usage else None,
            )
        ],
    )


@app.command()
def keys(
    ctx: typer.Context,
    project: Annotated[str, typer.Argument(help="Project id or name.")],
    new: Annotated[bool, typer.Option("--new", help="Issue a key instead of listing them.")] = False,
    name: Annotated[str, typer.Option(help="What the new key is for.")] = "",
    scope: Annotated[str, typer.Option(help="Scope of the new key: read, write or admin.")] = "admin",
    as_json: JsonFlag = False,
) -> None:
    """List a project's keys, or with --new issue one (its secret is printed once)."""
    api = client(ctx)
    if new:
        key = api.create_project_key(project, name, scope=scope)
        if as_json:
            print_json(key)
            return
        out.print(key.key or "")
        err.print(f"key {key.id} ({key.scope}) of {project} created; store the secret now")
        return
    found = api.project_keys(project)
    if as_json:
        print_json(found)
        return
    table(
        ["id", "name", "scope", "prefix", "revoked"],
        [(k.id, k.name, k.scope, k.prefix, k.revoked_at) for k in found],
    )
