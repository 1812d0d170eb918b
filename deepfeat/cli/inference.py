"""`deepfeat runs predict|score|samples`: put a trained run to work (registered on the `runs` group)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from deepfeat.cli.context import client
from deepfeat.cli.output import Exit, JsonFlag, err, fail, out, print_json

RunId = Annotated[str, typer.Argument(help="A succeeded run id.")]


Inputs = Annotated[
    str,
    typer.Option(
        "--inputs",
        "-i",
        help="A JSON list of inputs (e.g. '[[5.1, 3.5, 1.4, 0.2]]'), @FILE (.json or .npy), or - (stdin).",
    ),
]


def predict(ctx: typer.Context, run_id: RunId, inputs: Inputs, as_json: JsonFlag = False) -> None:
    """Predictions of a trained classification or regression run."""
    answer = client(ctx).predict(run_id, _read_inputs(inputs))
    if as_json:
        print_json(answer)
        return
    for i, prediction in enumerate(answer.predictions):
        p = max(answer.probabilities[i]) if answer.probabilities else None
        print(f"{i}\t{prediction}" + (f"\t(p={p:.3f})" if p is not None else ""))


def score(
    ctx: typer.Context,
    run_id: RunId,
    inputs: Inputs,
    fpr: Annotated[float | None, typer.Option(help="False-positive rate that sets the threshold.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Anomaly scores of an autoencoder run, with the threshold and verdicts."""
    answer = client(ctx).score(run_id, _read_inputs(inputs), fpr=fpr)
    if as_json:
        print_json(answer)
        return
    err.print(f"threshold {answer.threshold:.4g} at fpr {answer.fpr:g}")
    for i, (s, bad) in enumerate(zip(answer.scores, answer.is_anomaly, strict=True)):
        print(f"{i}\t{s:.4g}\t{'ANOMALY' if bad else 'ok'}")


def samples(
    ctx: typer.Context,
    run_id: RunId,
    n: Annotated[int, typer.Option(min=1, max=1024, help="How many samples.")] = 16,
    seed: Annotated[int | None, typer.Option(help="Repeatable samples.")] = None,
    label: Annotated[str | None, typer.Option(help="Conditional GANs: the class to sample.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Save as .npy.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Samples from a GAN run's generator."""
    array = client(ctx).samples(run_id, n, seed=seed, label=label)
    if output is not None:
        np.save(output, array)
        err.print(f"saved {'×'.join(map(str, array.shape))} float32 to {output}")
    if as_json:
        print_json(array.tolist())
    elif output is None:
        out.print(f"{array.shape[0]} samples of shape {list(array.shape[1:])}; save them with -o samples.npy")


def _read_inputs(spec: str) -> list[object]:
    """`--inputs`: inline JSON, @file.json, @file.npy, or - (JSON on stdin)."""
    try:
        if spec.startswith("@") and spec.endswith(".npy"):
            loaded: object = np.load(spec[1:], allow_pickle=False).tolist()
        elif spec.startswith("@"):
            loaded = json.loads(Path(spec[1:]).read_text())
        else:
            loaded = json.loads(sys.stdin.read() if spec == "-" else spec)
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read --inputs {spec[:40]}: {exc}", Exit.USAGE) from None
    if not isinstance(loaded, list) or not loaded:
        raise fail("--inputs must be a non-empty JSON list of inputs", Exit.USAGE)
    return loaded
