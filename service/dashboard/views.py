"""What the templates show, computed in Python: formatting, metric series, the learning-health panel."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from deepfeat.db.models import Artifact, Run, RunMetric
from deepfeat.specs.runs import TERMINAL_STATUSES
from deepfeat.storage import ArtifactStore
from service.dashboard import svg

BEST_KEYS = ("val_accuracy", "val_mae", "val_loss", "accuracy", "loss")
LOSS_KEYS = ("loss", "val_loss")
SYSTEM_KEYS = ("lr", "epoch_time", "samples_per_s")
# Diagnostics the training loop may record per layer (`grad_norm/<layer>`); shown when present.
HEALTH_PREFIXES = {
    "grad_norm/": "Gradient norm per layer",
    "update_ratio/": "Update / weight ratio per layer",
    "weight_norm/": "Weight norm per layer",
    "dead_relu/": "Dead-unit fraction per layer",
    "saturated/": "Saturated-unit fraction per layer",
}


def fmt_duration(seconds: float | int | None) -> str:
    if seconds is None:
        return "–"
    s = round(float(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def fmt_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "–"


def fmt_bytes(size: int) -> str:
    step = 1024.0
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < step:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= step
    return f"{value:.1f} TiB"


def best_metric(best: dict[str, Any]) -> tuple[str, float] | None:
    for key in BEST_KEYS:
        if isinstance(best.get(key), int | float):
            return key, float(best[key])
    return None


def progress_view(status: str, progress: dict[str, Any]) -> dict[str, Any]:
    """Epoch, total, percentage and ETA for the progress bar."""
    epoch = int(progress.get("epoch") or 0)
    total = int(progress.get("total_epochs") or 0)
    done = status == "succeeded"
    percent = 100 if done else (round(100 * epoch / total) if total else 0)
    eta = None if status in TERMINAL_STATUSES else progress.get("eta_seconds")
    return {"epoch": epoch, "total": total, "percent": percent, "eta": fmt_duration(eta) if eta else None}


def series(metrics: Iterable[RunMetric]) -> dict[str, list[list[float]]]:
    """`{key: [[epoch, value], ...]}` in epoch order: what the charts draw."""
    out: dict[str, list[list[float]]] = {}
    for m in sorted(metrics, key=lambda m: (m.step, m.key)):
        out.setdefault(m.key, []).append([m.epoch, m.value])
    return out


def chart_groups(keys: Sequence[str]) -> dict[str, list[str]]:
    """Which keys share a chart: losses, other quality metrics, the learning rate."""
    quality = [
        k for k in keys if k not in LOSS_KEYS and k not in SYSTEM_KEYS and "/" not in k and k != "epoch"
    ]
    return {"loss": [k for k in LOSS_KEYS if k in keys], "metrics": sorted(quality), "lr": ["lr"]}


def health_panels(keys: Iterable[str]) -> list[dict[str, Any]]:
    """One panel per diagnostic prefix present, each listing its layers."""
    panels = []
    present = sorted(set(keys))
    for prefix, title in HEALTH_PREFIXES.items():
        layers = [k for k in present if k.startswith(prefix)]
        if layers:
            panels.append({"prefix": prefix, "title": title, "keys": layers})
    return panels


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def script_json(value: Any) -> str:
    """JSON safe inside <script type="application/json"> (no `</script>` can close it early)."""
    return json.dumps(value, default=str).replace("<", "\\u003c").replace(">", "\\u003e")


SHOWN_APART = ("reconstructions.png",)  # drawn in their own panel, not the samples gallery
MAX_JSON_BYTES = 1024 * 1024  # artifacts the page reads to draw; bigger ones are only downloadable


def _read_json(artifact: Artifact | None, store: ArtifactStore) -> Any:
    if artifact is None or artifact.size_bytes > MAX_JSON_BYTES:
        return None
    try:
        return json.loads(store.path(artifact.path).read_bytes())
    except (OSError, ValueError):
        return None


def autoencoder_panel(run_id: str, artifacts: Sequence[Artifact], store: ArtifactStore) -> dict[str, Any]:
    """What an autoencoder run shows: reconstructions (an image grid, or one small chart per sample)
    and the validation anomaly-score histogram with its threshold (from `anomaly.json`)."""
    by_name = {a.name: a for a in artifacts}
    panel: dict[str, Any] = {"image": None, "pairs": [], "histogram": None, "anomaly": None}
    if "reconstructions.png" in by_name:
        panel["image"] = f"/runs/{run_id}/artifacts/reconstructions.png"
    pairs = _read_json(by_name.get("reconstructions.json"), store)
    if isinstance(pairs, dict):
        for i, (original, rebuilt, error) in enumerate(
            zip(
                pairs.get("inputs", []),
                pairs.get("reconstructions", []),
                pairs.get("errors", []),
                strict=False,
            )
        ):
            panel["pairs"].append({"chart": svg.pair_chart(original, rebuilt), "error": error, "n": i + 1})
        panel["features"] = pairs.get("features")
        panel["shown"] = len(pairs["inputs"][0]) if pairs.get("inputs") else 0
    anomaly = _read_json(by_name.get("anomaly.json"), store)
    if isinstance(anomaly, dict):
        histogram = anomaly.get("histogram")
        approximate = not isinstance(histogram, dict)
        if approximate and anomaly.get("quantiles"):
            histogram = svg.histogram_from_quantiles(anomaly["quantiles"])
        if isinstance(histogram, dict):
            panel["histogram"] = svg.histogram_chart(
                histogram["edges"], histogram["counts"], anomaly.get("threshold")
            )
        panel["overflow"] = histogram.get("overflow", 0) if isinstance(histogram, dict) else 0
        panel["anomaly"] = {
            "threshold": anomaly.get("threshold"),
            "fpr": anomaly.get("fpr"),
            "n": anomaly.get("n"),
            "approximate": approximate,
        }
    return panel


MAX_PREVIEW_COLUMNS = 12
MAX_TEXT = 160


def preview_table(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The dataset preview (`data/preview.py` rows) as a table: feature columns (the first few), an
    image thumbnail, text cut to a readable length, or a sequence's first steps; and the target."""
    columns: list[str] = []
    for row in rows:
        for name in row.get("features", {}):
            if name not in columns:
                columns.append(name)
    shown = columns[:MAX_PREVIEW_COLUMNS]
    out = []
    for row in rows:
        text = row.get("text")
        out.append(
            {
                "index": row["index"],
                "image": row.get("image"),
                "text": text if text is None or len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…",
                "full_text": text,
                "sequence": row.get("sequence"),
                "length": row.get("length"),
                "cells": [row.get("features", {}).get(c) for c in shown],
                "target": row.get("target"),
                "has_target": "target" in row,
            }
        )
    return {
        "columns": shown,
        "hidden_columns": len(columns) - len(shown),
        "rows": out,
        "has_target": any(r["has_target"] for r in out),
    }


def best_epoch(receipt_text: str | None) -> int | None:
    """The epoch whose weights a run kept (a GAN's best by `val_mmd`), from its receipt."""
    if not receipt_text:
        return None
    try:
        receipt = json.loads(receipt_text)
    except ValueError:
        return None
    epoch = receipt.get("best_epoch") if isinstance(receipt, dict) else None
    return epoch if isinstance(epoch, int) else None


# -- comparing runs (issue 19): the spec values that differ between the runs compared ------------------
def run_facts(run: Run) -> dict[str, str]:
    """A run's spec flattened to dotted paths (`training.optimizer.lr`), with its experiment and tags."""
    flat: dict[str, str] = {"experiment": run.experiment, "tags": ", ".join(run.tags) or "–"}
    stack: list[tuple[str, Any]] = [("", run.spec)]
    while stack:
        prefix, value = stack.pop()
        if isinstance(value, dict) and value:
            stack += [(f"{prefix}.{k}" if prefix else str(k), v) for k, v in value.items()]
        else:
            flat[prefix] = json.dumps(value) if not isinstance(value, str) else value
    return flat


def spec_diff(facts: list[dict[str, str]]) -> list[tuple[str, list[str]]]:
    """(path, the value in each run) for every path whose values are not all the same; absent is `–`."""
    if len(facts) < 2:
        return []
    paths = sorted({p for f in facts for p in f})
    rows = [(p, [f.get(p, "–") for f in facts]) for p in paths]
    return [(p, values) for p, values in rows if len(set(values)) > 1]
