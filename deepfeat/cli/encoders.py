"""`deepfeat encoders list|register`, `deepfeat embed` and `deepfeat extract` (need the encoders feature)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from deepfeat.cli.context import client
from deepfeat.cli.output import Exit, JsonFlag, err, fail, out, print_json, table
from deepfeat.specs.runs import TERMINAL_STATUSES

app = typer.Typer(help="Pretrained and registered encoders.", no_args_is_help=True)

Layer = Annotated[str | None, typer.Option(help="A named module of the network; default: its features.")]


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """The catalogue: pretrained encoders and those registered from runs."""
    encoders = client(ctx).encoders()
    if as_json:
        print_json(encoders)
        return
    table(
        ["name", "version", "modality", "dim", "source"],
        [(e.name, e.version, e.modality, e.dim, e.source) for e in encoders],
    )


@app.command()
def register(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="A succeeded run.")],
    name: Annotated[str, typer.Argument(help="The encoder's name; each registration adds a version.")],
    layer: Layer = None,
    as_json: JsonFlag = False,
) -> None:
    """Register a trained run as an encoder `name@version`."""
    encoder = client(ctx).register_encoder(run_id, name, layer=layer)
    if as_json:
        print_json(encoder)
        return
    out.print(f"registered [bold]{encoder.name}@{encoder.version}[/bold] from run {run_id}")


def embed(
    ctx: typer.Context,
    encoder: Annotated[str, typer.Argument(help="`name` or `name@version` from `deepfeat encoders list`.")],
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to embed.")] = None,
    file: Annotated[Path | None, typer.Option(help="A text file: one input per line.")] = None,
    layer: Layer = None,
    pool: Annotated[str | None, typer.Option(help="mean, max, cls or none.")] = None,
    normalize: Annotated[bool | None, typer.Option(help="L2-normalise each embedding.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Save the array as .npy.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Embed texts given as arguments or read from --file, one per line."""
    inputs = list(texts or [])
    if file is not None:
        try:
            inputs += [line for line in file.read_text().splitlines() if line.strip()]
        except OSError as exc:
            raise fail(f"cannot read {file}: {exc.strerror or exc}", Exit.USAGE) from None
    if not inputs:
        raise fail("nothing to embed: give texts as arguments or --file", Exit.USAGE)
    vectors = client(ctx).embed(encoder, inputs, layer=layer, pool=pool, normalize=normalize)
    if output is not None:
        np.save(output, vectors)
        err.print(f"saved {vectors.shape[0]}×{vectors.shape[1]} float32 to {output}")
    if as_json:
        print_json(vectors.tolist())
    elif output is None:
        for text, row in zip(inputs, vectors, strict=True):
            head = " ".join(f"{v:+.3f}" for v in row[:6])
            out.print(f"{text[:40]!r:44} [{head} …] dim {row.shape[0]}")


def extract(
    ctx: typer.Context,
    encoder: Annotated[str, typer.Argument(help="`minilm-l6`, `name`, `name@version` or `name@alias`.")],
    dataset: Annotated[str, typer.Argument(help="A dataset id, `name[@version]` or builtin:<name>.")],
    layer: Layer = None,
    pool: Annotated[str | None, typer.Option(help="mean, max or cls.")] = None,
    normalize: Annotated[bool | None, typer.Option(help="L2-normalise each embedding.")] = None,
    follow: Annotated[bool, typer.Option(help="Wait for the job and report its end.")] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Wait, then save embeddings.npy here.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Embed a whole dataset on a worker into an `embeddings.npy` artifact."""
    api = client(ctx)
    job = api.extract(encoder, dataset, layer=layer, pool=pool, normalize=normalize)
    err.print(f"extraction {job.id} {job.status}")
    follow = follow or output is not None
    delay = 0.5
    while follow and job.status not in TERMINAL_STATUSES:
        time.sleep(delay)
        delay = min(delay * 1.5, 3.0)
        job = api.extraction(job.id)
    if output is not None and job.status == "succeeded":
        saved = api.download_extraction(job.id, "embeddings.npy", output)
        err.print(f"saved {saved}")
    if as_json:
        print_json(job)
    elif follow:
        out.print(f"extraction {job.id} {job.status}" + (f": {job.error}" if job.error else ""))
    if follow and job.status != "succeeded":
        raise typer.Exit(Exit.FAILED)


@app.command("export")
def export(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="A registered encoder: `name`, `name@version`, `name@alias`.")],
    format: Annotated[str, typer.Option("--format", "-f", help="safetensors or onnx.")] = "safetensors",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="A file or a folder.")] = None,
) -> None:
    """Download a registered encoder as a zip: the weights (or ONNX graph) and spec.json."""
    saved = client(ctx).export_encoder(ref, format=format, dest=output)
    out.print(f"saved {saved}")
