"""The `deepfeat` command: run the service, and drive all of its API from a terminal.

`deepfeat up|api|worker|migrate` run the service; `datasets`, `runs`, `encoders`, `embed`, `extract` and
`keys` talk to one over HTTP through deepfeat.client (see docs/cli.md).
"""

from __future__ import annotations

from typing import Annotated

import typer

from deepfeat.cli import datasets, encoders, inference, keys, projects, runs, server, sweeps
from deepfeat.cli.context import Target
from deepfeat.cli.output import ErrorHandlingGroup
from deepfeat.client import DEFAULT_URL

app = typer.Typer(
    cls=ErrorHandlingGroup,
    help="deepfeat: train networks from a spec and serve what they learned.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    url: Annotated[
        str, typer.Option(envvar="DEEPFEAT_URL", help="The deepfeat server.", show_default=True)
    ] = DEFAULT_URL,
    key: Annotated[
        str | None,
        typer.Option(
            envvar="DEEPFEAT_API_KEY",
            help="API key; default: the admin key `deepfeat up` wrote in $DEEPFEAT_DATA_DIR (./var).",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for one HTTP answer.")] = 30.0,
) -> None:
    target = Target(url.rstrip("/"), key, timeout)
    ctx.obj = target
    ctx.call_on_close(target.close)


app.command()(server.up)
app.command()(server.api)
app.command()(server.worker)
app.command()(server.migrate)
app.command("admin-key")(server.admin_key_command)
app.add_typer(datasets.app, name="datasets")
for serve in (inference.predict, inference.score, inference.samples):
    runs.app.command()(serve)
app.add_typer(runs.app, name="runs")
app.add_typer(encoders.app, name="encoders")
app.command("embed")(encoders.embed)
app.command("extract")(encoders.extract)
app.add_typer(keys.app, name="keys")
app.add_typer(sweeps.app, name="sweeps")

app.add_typer(projects.app, name="projects")


def main() -> None:
    app()
