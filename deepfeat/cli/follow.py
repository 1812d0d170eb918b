"""`--follow`: watch a run to its end with a live bar (epoch, loss, metrics, ETA) or, off a terminal,
one line per epoch. Ctrl-C detaches and leaves the run going."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from deepfeat.cli.output import Exit, err, out
from deepfeat.client import Client
from deepfeat.specs.runs import RunOut

# What the bar shows of an epoch's metrics, in this order, when the run reports them.
SHOWN = ("loss", "val_loss", "accuracy", "val_accuracy", "val_mae")


class Watcher:
    """Turns each change of a run (from Client.wait) into a bar update or a printed line."""

    def __init__(self, api: Client, run: RunOut, progress: Progress | None) -> None:
        self.api, self.run_id, self.bar = api, run.id, progress
        self.epoch, self.status = 0, run.status
        self.latest: dict[str, float] = {}
        self.task = None
        if progress is not None:
            total = run.progress.get("total_epochs")
            self.task = progress.add_task(
                run.name or run.id, total=total, status=run.status, epoch="", metrics="", eta=""
            )

    def __call__(self, run: RunOut) -> None:
        epoch = int(run.progress.get("epoch") or 0)
        if epoch > self.epoch:
            rows = [m for m in self.api.metrics(self.run_id) if m.epoch == epoch]
            self.latest = {m.key: m.value for m in rows}
        total = run.progress.get("total_epochs")
        metrics = "  ".join(f"{k} {self.latest[k]:.4g}" for k in SHOWN if k in self.latest)
        eta = _duration(run.progress.get("eta_seconds"))
        if self.bar is not None and self.task is not None:
            self.bar.update(
                self.task,
                completed=epoch,
                total=total,
                status=run.status,
                epoch=f"epoch {epoch}/{total}",
                metrics=metrics,
                eta=f"ETA {eta}" if eta else "",
            )
        elif epoch > self.epoch:
            err.print(f"epoch {epoch}/{total}  {metrics}" + (f"  ETA {eta}" if eta else ""))
        elif run.status != self.status:
            err.print(f"run {run.id} {run.status}")
        self.epoch, self.status = epoch, run.status


def follow(api: Client, run: RunOut, timeout: float | None) -> RunOut:
    """Watch `run` until it ends; exits 130 on Ctrl-C (the run goes on)."""
    err.print(f"following run [bold]{run.id}[/bold] (Ctrl-C detaches; the run keeps going)")
    bar: Progress | None = None
    if err.is_terminal:
        bar = Progress(
            TextColumn("{task.description}"),
            TextColumn("[cyan]{task.fields[status]}"),
            BarColumn(),
            TextColumn("{task.fields[epoch]}"),
            TextColumn("{task.fields[metrics]}"),
            TextColumn("{task.fields[eta]}"),
            TimeElapsedColumn(),
            console=err,
            transient=False,
        )
    try:
        if bar is None:
            return api.wait(run.id, on_progress=Watcher(api, run, None), timeout=timeout)
        with bar:
            return api.wait(run.id, on_progress=Watcher(api, run, bar), timeout=timeout)
    except KeyboardInterrupt:
        err.print(f"detached; run {run.id} keeps going: `deepfeat runs show {run.id}`")
        raise typer.Exit(Exit.DETACHED) from None


def report_end(run: RunOut) -> None:
    """The last line of a followed run; a run that did not succeed exits non-zero."""
    best = "  ".join(
        f"{k} {v:.4g}" for k, v in run.best_metrics.items() if k in SHOWN and isinstance(v, float | int)
    )
    if run.status == "succeeded":
        epochs = run.progress.get("epoch")
        out.print(f"run {run.id} succeeded after {epochs} epochs" + (f": {best}" if best else ""))
        return
    reason = f": {run.error}" if run.error else ""
    err.print(f"[red]error:[/red] run {run.id} {run.status}{escape(reason)}")
    raise typer.Exit(Exit.FAILED)


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return ""
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
