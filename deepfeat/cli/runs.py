"""`deepfeat runs submit|list|show|cancel|events|metrics|artifacts|download`; predict etc.: inference.py."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from deepfeat.cli.context import client
from deepfeat.cli.follow import follow as follow_run
from deepfeat.cli.follow import report_end
from deepfeat.cli.output import (
    Exit,
    JsonFlag,
    cell_text,
    err,
    fields,
    out,
    print_json,
    table,
    to_jsonable,
)
from deepfeat.cli.plot import plot
from deepfeat.client import load_spec
from deepfeat.specs.runs import TERMINAL_STATUSES, MetricOut, RunOut

app = typer.Typer(help="Submit, watch and inspect training runs.", no_args_is_help=True)

RunId = Annotated[str, typer.Argument(help="A run id (`deepfeat runs list` shows them).")]


@app.command()
def submit(
    ctx: typer.Context,
    spec: Annotated[
        str, typer.Argument(help="A run spec: .json, .yaml/.yml, or - for stdin (YAML or JSON).")
    ],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Watch it train; exit non-zero unless it succeeds.")
    ] = False,
    dataset: Annotated[str | None, typer.Option(help="Use this dataset instead of the spec's.")] = None,
    name: Annotated[str | None, typer.Option(help="Use this run name instead of the spec's.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only validate: print params, FLOPs, memory.")
    ] = False,
    idempotency_key: Annotated[str | None, typer.Option(help="Repeat-safe submission key.")] = None,
    timeout: Annotated[
        float | None, typer.Option(help="With --follow: give up watching after this many seconds (exit 124).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Queue a run from a spec file; with --follow, watch it to the end."""
    api = client(ctx)
    doc = load_spec(spec)
    doc |= {k: v for k, v in {"dataset": dataset, "name": name}.items() if v is not None}
    if dry_run:
        report = api.validate(doc)
        if as_json:
            print_json(report)
        else:
            fields(
                [
                    ("params", f"{report.params:,} ({report.trainable_params:,} trainable)"),
                    ("FLOPs/sample", f"{report.flops:,}"),
                    ("input shape", report.input_shape),
                    ("output shape", report.output_shape),
                    ("memory/step", f"{report.memory_estimate / 2**20:.1f} MiB"),
                ]
            )
        return
    run = api.submit(doc, idempotency_key=idempotency_key)
    if not follow:
        if as_json:
            print_json(run)
        else:
            out.print(f"run [bold]{run.id}[/bold] {run.status}; watch it with `deepfeat runs show {run.id}`")
        return
    run = follow_run(api, run, timeout)
    if as_json:
        print_json(run)
        if run.status != "succeeded":
            report_end(run)
    else:
        report_end(run)


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[
        str | None, typer.Option(help="queued, running, cancelling, succeeded, failed, cancelled.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many runs, newest first.")] = 20,
    all_: Annotated[bool, typer.Option("--all", help="Every run (follows all pages).")] = False,
    experiment: Annotated[str | None, typer.Option(help="Only runs of this experiment.")] = None,
    tag: Annotated[
        list[str] | None, typer.Option(help="Only runs with this tag (repeat: all of them).")
    ] = None,
    filter_: Annotated[
        str | None,
        typer.Option("--filter", help="e.g. 'metrics.val_accuracy > 0.9 and training.optimizer.lr < 0.01'."),
    ] = None,
    sort: Annotated[str | None, typer.Option(help="`metrics.<key>` (best first with --order desc).")] = None,
    order: Annotated[str, typer.Option(help="desc or asc.")] = "desc",
    as_json: JsonFlag = False,
) -> None:
    """Runs, newest first (or sorted by a best metric), narrowed by experiment, tags and a filter."""
    runs = list(
        client(ctx).runs(
            status=status,
            limit=None if all_ else limit,
            experiment=experiment,
            tags=tag or (),
            filter=filter_,
            sort=sort,
            order=order,
        )
    )
    if as_json:
        print_json(runs)
        return
    table(
        ["id", "name", "experiment", "tags", "status", "epoch", "best", "created"],
        [
            (r.id, r.name, r.experiment, ",".join(r.tags), r.status, _epoch(r), _best(r), r.created_at)
            for r in runs
        ],
    )


@app.command()
def tag(
    ctx: typer.Context,
    run_id: RunId,
    tags: Annotated[list[str] | None, typer.Argument(help="Tags to add.")] = None,
    remove: Annotated[list[str] | None, typer.Option(help="A tag to take off (repeatable).")] = None,
    experiment: Annotated[str | None, typer.Option(help="Move the run to this experiment.")] = None,
    meta: Annotated[
        list[str] | None, typer.Option(help="KEY=VALUE metadata (repeatable); replaces the run's metadata.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Add or remove tags of a run, move it to another experiment, or set its metadata."""
    change: dict[str, Any] = {"add_tags": tags or [], "remove_tags": remove or []}
    if experiment is not None:
        change["experiment"] = experiment
    if meta:
        pairs = [m.partition("=") for m in meta]
        if any(not sep for _, sep, _ in pairs):
            raise typer.BadParameter("write metadata as KEY=VALUE", param_hint="--meta")
        change["metadata"] = {k: v for k, _, v in pairs}
    run = client(ctx).update_run(run_id, **change)
    if as_json:
        print_json(run)
        return
    out.print(f"{run.id}  experiment {run.experiment}  tags {', '.join(run.tags) or '-'}")


@app.command()
def show(ctx: typer.Context, run_id: RunId, as_json: JsonFlag = False) -> None:
    """One run: status, attempt, progress, best metrics, error."""
    run = client(ctx).run(run_id)
    if as_json:
        print_json(run)
        return
    fields(
        [
            ("id", run.id),
            ("name", run.name),
            ("status", run.status),
            ("task", run.task),
            ("dataset", run.dataset_id),
            ("attempt", f"{run.attempt}/{run.max_attempts}"),
            ("epoch", _epoch(run)),
            ("best", _best(run)),
            ("error", run.error),
            ("created", run.created_at),
            ("started", run.started_at),
            ("finished", run.finished_at),
        ]
    )


@app.command()
def cancel(ctx: typer.Context, run_id: RunId, as_json: JsonFlag = False) -> None:
    """Ask a run to stop (it ends within a training step)."""
    run = client(ctx).cancel(run_id)
    if as_json:
        print_json(run)
    else:
        out.print(f"run {run.id} {run.status}")


@app.command()
def events(
    ctx: typer.Context,
    run_id: RunId,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events until the run ends.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """The run's event log: queued, attempts, epochs, the end."""
    api = client(ctx)
    log = api.events(run_id)
    if as_json and not follow:
        print_json(log)
        return
    if not follow:
        table(["time", "level", "kind", "message"], [(e.created_at, e.level, e.kind, e.message) for e in log])
        return
    last: int | None = None
    delay, ended = 0.5, False
    try:
        while True:
            for e in log:
                if as_json:
                    print(json.dumps(to_jsonable(e)), flush=True)  # one JSON object per line
                else:
                    out.print(f"{cell_text(e.created_at)}  {e.level:<7} {escape(e.message)}")
            last = log[-1].id if log else last
            if ended:
                return
            delay = 0.5 if log else min(delay * 1.5, 3.0)
            if not log:  # quiet: has it ended? then print what came in meanwhile, and stop
                ended = api.run(run_id).status in TERMINAL_STATUSES
            if not ended:
                time.sleep(delay)
            log = api.events(run_id, after=last)
    except KeyboardInterrupt:
        raise typer.Exit(Exit.DETACHED) from None


@app.command()
def metrics(
    ctx: typer.Context,
    run_id: RunId,
    metric: Annotated[
        list[str] | None, typer.Option("--metric", "-m", help="Only these metrics (repeatable).")
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Also per-layer diagnostics (grad_norm/...) and lr, timings.")
    ] = False,
    plot_: Annotated[bool, typer.Option("--plot", help="Draw the curves in the terminal.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Per-epoch metrics as a table, JSON (everything), or curves (--plot)."""
    rows = client(ctx).metrics(run_id)
    if metric:
        rows = [m for m in rows if m.key in metric]
    if as_json:
        print_json(rows)
        return
    if not metric and not all_:
        rows = [m for m in rows if _headline(m.key)]
    by_key: dict[str, list[MetricOut]] = defaultdict(list)
    for m in rows:
        by_key[m.key].append(m)
    if not by_key:
        err.print(f"run {run_id} has no metrics yet")
        return
    if plot_:
        _plot(by_key)
        return
    names = list(by_key)
    values = {(m.epoch, m.key): m.value for m in rows}
    epochs = sorted({m.epoch for m in rows})
    table(["epoch", *names], [(e, *(values.get((e, k)) for k in names)) for e in epochs])


def _headline(key: str) -> bool:
    """What a person looks at first: losses and quality metrics, not per-layer diagnostics or timings."""
    return "/" not in key and key not in ("lr", "epoch_time", "samples_per_s")


def _plot(by_key: dict[str, list[MetricOut]]) -> None:
    """Losses on one chart, everything else (accuracy, f1, mae, ...) on another: their scales differ."""
    groups: dict[str, list[str]] = {"loss": [], "metrics": []}
    for k in by_key:
        groups["loss" if "loss" in k else "metrics"].append(k)
    for title, keys in groups.items():
        if keys:
            out.print(f"[bold]{title}[/bold] by epoch")
            print(plot({k: [(m.epoch, m.value) for m in by_key[k]] for k in keys}))


@app.command()
def artifacts(ctx: typer.Context, run_id: RunId, as_json: JsonFlag = False) -> None:
    """What a run wrote: weights, spec, receipt, exports."""
    items = client(ctx).artifacts(run_id)
    if as_json:
        print_json(items)
        return
    table(
        ["name", "media type", "bytes", "sha256"],
        [(a.name, a.media_type, a.size_bytes, a.sha256[:12]) for a in items],
    )


@app.command()
def download(
    ctx: typer.Context,
    run_id: RunId,
    name: Annotated[str, typer.Argument(help="An artifact name, e.g. model.safetensors.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="A file or folder; default: ./NAME.")
    ] = None,
) -> None:
    """Download one artifact (checked against its sha256)."""
    path = client(ctx).download(run_id, name, output)
    out.print(f"saved {path}")


def _epoch(run: RunOut) -> str:
    total = run.progress.get("total_epochs")
    return f"{run.progress.get('epoch', 0)}/{total}" if total else "-"


def _best(run: RunOut) -> str:
    shown = ("val_accuracy", "val_loss", "val_mae", "accuracy", "loss")
    parts = [
        f"{k} {run.best_metrics[k]:.4g}" for k in shown if isinstance(run.best_metrics.get(k), float | int)
    ]
    return ", ".join(parts[:2]) or "-"
