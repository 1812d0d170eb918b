"""`deepfeat datasets upload|list|show|rm`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from deepfeat.cli.context import client
from deepfeat.cli.output import Exit, JsonFlag, fail, fields, out, print_json, table
from deepfeat.specs.datasets import DatasetOut

app = typer.Typer(help="Upload and manage datasets.", no_args_is_help=True)


@app.command()
def upload(
    ctx: typer.Context,
    source: Annotated[
        str, typer.Argument(help="A file to upload, or `builtin:<name>` (e.g. builtin:digits).")
    ],
    name: Annotated[str | None, typer.Option(help="Display name; default: the file's name.")] = None,
    format: Annotated[
        str | None, typer.Option(help="csv, tsv, parquet, npz, jsonl, images; default: detected.")
    ] = None,
    target: Annotated[str | None, typer.Option(help="The column (JSONL: key) to predict.")] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-O",
            help="Another upload field as KEY=VALUE, e.g. missing=impute or image_size=64x48 (repeatable).",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Upload a data file, or register a built-in data set; prints the new dataset's id."""
    api = client(ctx)
    if source.startswith("builtin:"):
        dataset = api.create_builtin(source, name=name)
    else:
        path = Path(source)
        if not path.is_file():
            raise fail(f"no such file: {source} (for a built-in set write builtin:<name>)", Exit.USAGE)
        extra = dict(o.partition("=")[::2] for o in option or [])
        if any(not k or not v for k, v in extra.items()):
            raise fail("--option takes KEY=VALUE, e.g. --option missing=impute", Exit.USAGE)
        dataset = api.upload_dataset(path, name=name, format=format, target=target, **extra)
    if as_json:
        print_json(dataset)
    else:
        size = f"{dataset.n_rows} rows, sha256 {dataset.sha256[:12]}"
        out.print(f"dataset [bold]{dataset.id}[/bold] {dataset.name}: {size}")


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Every dataset of this key's project."""
    rows = list(client(ctx).datasets())
    if as_json:
        print_json(rows)
        return
    table(
        ["id", "name", "format", "rows", "modality", "sha256", "created"],
        [(d.id, d.name, d.format, d.n_rows, d.schema_.modality, d.sha256[:12], d.created_at) for d in rows],
    )


@app.command()
def show(ctx: typer.Context, dataset_id: str, as_json: JsonFlag = False) -> None:
    """One dataset with its schema."""
    dataset = client(ctx).dataset(dataset_id)
    if as_json:
        print_json(dataset)
        return
    fields(_fields(dataset))


def _fields(d: DatasetOut) -> list[tuple[str, object]]:
    schema = d.schema_
    pairs: list[tuple[str, object]] = [
        ("id", d.id),
        ("name", d.name),
        ("format", d.format if not d.builtin else f"builtin:{d.builtin}"),
        ("rows", d.n_rows),
        ("size", f"{d.size_bytes} bytes"),
        ("sha256", d.sha256),
        ("modality", schema.modality),
        ("input shape", schema.input_shape),
        ("target", schema.target),
    ]
    if schema.classes is not None:
        pairs.append(("classes", ", ".join(f"{c.name} ({c.count})" for c in schema.classes)))
    pairs.append(("created", d.created_at))
    return pairs


@app.command("rm")
def remove(ctx: typer.Context, dataset_id: str) -> None:
    """Delete a dataset (refused while a queued or running run uses it)."""
    client(ctx).delete_dataset(dataset_id)
    out.print(f"deleted dataset {dataset_id}")
