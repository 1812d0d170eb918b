"""`deepfeat sweeps create|list|show|cancel`; `--follow` keeps a live table of the trials."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from deepfeat.cli.context import client
from deepfeat.cli.output import JsonFlag, fields, print_json, table
from deepfeat.specs.sweeps import SweepOut

app = typer.Typer(
    help="Hyperparameter sweeps: trials proposed by Optuna, bad ones stopped early.", no_args_is_help=True
)
SweepId = Annotated[str, typer.Argument(help="A sweep id (`deepfeat sweeps list` shows them).")]
Follow = Annotated[bool, typer.Option("--follow", "-f", help="A live table until the sweep ends.")]


@app.command()
def create(
    ctx: typer.Context,
    spec: Annotated[str, typer.Argument(help="A sweep config: .json, .yaml/.yml, or - for stdin.")],
    follow: Follow = False,
    as_json: JsonFlag = False,
) -> None:
    """Start a sweep from a config (W&B's shape: base, method, metric, parameters, early_terminate)."""
    sweep = client(ctx).create_sweep(spec)
    if follow:
        _follow(ctx, sweep.id)
    elif as_json:
        print_json(sweep)
    else:
        typer.echo(f"{sweep.id} {sweep.status} ({len(sweep.trials)} trials queued of {sweep.run_cap})")


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="running, finished, cancelled, failed.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Sweeps, newest first."""
    sweeps = list(client(ctx).sweeps(status=status))
    if as_json:
        print_json(sweeps)
        return
    table(
        ["id", "name", "status", "method", "trials", "best", "created"],
        [
            (s.id, s.name, s.status, s.method, f"{len(s.trials)}/{s.run_cap}", _best(s), s.created_at)
            for s in sweeps
        ],
    )


@app.command()
def show(ctx: typer.Context, sweep_id: SweepId, follow: Follow = False, as_json: JsonFlag = False) -> None:
    """One sweep: status, best run, and each trial's parameters and metric."""
    if follow:
        _follow(ctx, sweep_id)
        return
    sweep = client(ctx).sweep(sweep_id)
    if as_json:
        print_json(sweep)
        return
    fields(
        [
            ("id", sweep.id),
            ("status", sweep.status),
            ("method", sweep.method),
            ("metric", f"{sweep.metric.name} ({sweep.metric.goal})"),
            ("best", _best(sweep)),
            ("error", sweep.error or ""),
        ]
    )
    typer.echo("")
    Console().print(trials_table(sweep))


@app.command()
def cancel(ctx: typer.Context, sweep_id: SweepId, as_json: JsonFlag = False) -> None:
    """Stop proposing trials and cancel the ones queued or training."""
    sweep = client(ctx).cancel_sweep(sweep_id)
    if as_json:
        print_json(sweep)
    else:
        typer.echo(f"{sweep.id} {sweep.status}")


def trials_table(sweep: SweepOut) -> Table:
    """Trials best first (by the sweep's metric), then the ones without a value yet."""
    names = list(sweep.spec.get("parameters", {}))
    grid = Table(title=f"{sweep.name} · {sweep.status} · {sweep.metric.name}", header_style="bold")
    for column in ["#", "run", "status", "epochs", sweep.metric.name, *names]:
        grid.add_column(column)
    sign = -1.0 if sweep.metric.goal == "maximize" else 1.0
    ordered = sorted(sweep.trials, key=lambda t: (t.metric is None, sign * (t.metric or 0.0), t.number))
    for t in ordered:
        star = " *" if t.run_id == sweep.best_run_id else ""
        metric = "" if t.metric is None else f"{t.metric:.4g}{star}"
        grid.add_row(
            str(t.number), t.run_id, t.status, str(t.epochs), metric, *(_cell(t.params.get(n)) for n in names)
        )
    return grid


def _follow(ctx: typer.Context, sweep_id: str) -> None:
    api = client(ctx)
    sweep = api.sweep(sweep_id)
    with Live(trials_table(sweep), refresh_per_second=2) as live:
        while sweep.status == "running":
            time.sleep(1.0)
            sweep = api.sweep(sweep_id)
            live.update(trials_table(sweep))
    if sweep.status != "finished":
        raise typer.Exit(1)


def _best(sweep: SweepOut) -> str:
    return "" if sweep.best_metric is None else f"{sweep.best_metric:.4g} ({sweep.best_run_id})"


def _cell(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
