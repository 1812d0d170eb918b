"""Running the service: `deepfeat up`, `api`, `worker`, `migrate` (registered on the root app)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from deepfeat.cli.admin import is_revoked, issue_recovery_key, live_admin_key
from deepfeat.config import Settings, get_settings
from deepfeat.processes import (
    Supervisor,
    admin_key,
    api_command,
    api_env,
    default_queues,
    port_problem,
    thread_plan,
    worker_command,
)

console = Console(stderr=True)

Host = Annotated[str, typer.Option(help="Address to bind; 127.0.0.1 keeps the API local.")]
Port = Annotated[int, typer.Option(help="TCP port of the API.")]


def _settings(data_dir: Path | None) -> Settings:
    if data_dir is not None:
        os.environ["DEEPFEAT_DATA_DIR"] = str(data_dir.expanduser().resolve())
        get_settings.cache_clear()
    return get_settings()


def migrate(data_dir: Annotated[Path | None, typer.Option()] = None) -> None:
    """Upgrade the database schema to this version of deepfeat."""
    from deepfeat.db import migrate as migrations  # alembic: only for the commands that need it

    settings = _settings(data_dir)
    migrations.upgrade(settings.resolved_database_url)
    console.print(f"[green]database at {migrations.head_revision()}[/green]")


def up(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    data_dir: Annotated[
        Path | None, typer.Option(help="Where data, artifacts and SQLite files live.")
    ] = None,
) -> None:
    """Migrate, then run the API and one worker until Ctrl-C."""
    from deepfeat.db import migrate as migrations  # alembic: only for the commands that need it

    _require_free(host, port)

    settings = _settings(data_dir)
    migrations.upgrade(settings.resolved_database_url)
    key = live_admin_key(settings)
    plan = thread_plan()
    base = {**os.environ, "DEEPFEAT_DATA_DIR": str(settings.data_dir), "DEEPFEAT_BOOTSTRAP_KEY": key}
    supervisor = Supervisor(
        {
            "api": (
                api_command(host, port),
                {
                    **base,
                    "DEEPFEAT_TORCH_THREADS": str(plan.api_threads),
                    "DEEPFEAT_INFERENCE_THREADS": str(plan.api_threads),
                },
            ),
            "worker": (
                worker_command(default_queues(), 1),
                {**base, "DEEPFEAT_TORCH_THREADS": str(plan.worker_threads)},
            ),
        }
    )
    console.print(f"deepfeat is starting at [bold]http://{host}:{port}[/bold]")
    console.print(f"admin key: [bold]{key}[/bold]  (kept in {settings.admin_key_file})")
    db, broker = _redact(settings.resolved_database_url), _redact(settings.resolved_broker_url)
    console.print(f"database: {db}  broker: {broker}")
    raise typer.Exit(supervisor.run())


def admin_key_command(
    new: Annotated[
        bool, typer.Option("--new", help="Issue a new admin key and keep it in the data dir.")
    ] = False,
    data_dir: Annotated[Path | None, typer.Option(help="The server's data dir.")] = None,
) -> None:
    """Print the deployment's admin key (kept in the data dir); --new issues a fresh one through the
    database, for an operator locked out (needs database access, no API key)."""
    from deepfeat.db import migrate as migrations  # alembic: only for the commands that need it

    settings = _settings(data_dir)
    migrations.upgrade(settings.resolved_database_url)
    if new:
        typer.echo(issue_recovery_key(settings))
        console.print(f"new admin key of the default project, kept in {settings.admin_key_file}")
        if settings.bootstrap_key is not None:
            console.print("note: DEEPFEAT_BOOTSTRAP_KEY is set, and `deepfeat up` prefers it to the file")
        return
    key = admin_key(settings)
    typer.echo(key)
    if is_revoked(settings, key):
        console.print("[red]this key is revoked[/red]: run `deepfeat admin-key --new`")
        raise typer.Exit(1)


def api(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="API processes on this port (one per core you can spare).")
    ] = 1,
) -> None:
    """Run only the HTTP API (same DEEPFEAT_* settings); for containers and scaling out. With
    `--workers N`, each process's inference takes 1/N of the cores unless DEEPFEAT_INFERENCE_THREADS
    says otherwise (N processes each taking every core would oversubscribe them)."""
    _require_free(host, port)
    os.environ.update(api_env(workers, os.environ))
    argv = api_command(host, port, workers)
    os.execv(argv[0], argv)  # noqa: S606 - replaces this process with uvicorn; argv is ours


def worker(
    queues: Annotated[
        str | None, typer.Option(help="Comma-separated queues; default cpu (+gpu with CUDA).")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Runs trained at once by this worker.")] = 1,
) -> None:
    """Run only a training worker (same DEEPFEAT_* settings)."""
    argv = worker_command(queues or default_queues(), concurrency)
    os.environ["DEEPFEAT_WORKER_CONCURRENCY"] = str(concurrency)
    os.execv(argv[0], argv)  # noqa: S606


def _require_free(host: str, port: int) -> None:
    """A busy port is a one-line answer with what to do, not uvicorn's traceback after a start."""
    problem = port_problem(host, port)
    if problem is not None:
        console.print(
            f"[red]{problem}[/red]: try `--port {port + 1}` (or `make run PORT={port + 1}`)", highlight=False
        )
        raise typer.Exit(1)


def _redact(url: str) -> str:
    """Hide a password in a URL before printing it."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}" if ":" in creds else url
