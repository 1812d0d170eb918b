"""Epochs saved by early termination: one sweep (bayes over lr and hidden sizes on digits) run with
hyperband and then without any early termination, side by side on one real API + worker.

Prints each sweep's best val_accuracy, trials pruned, epochs trained (counted from the recorded
metrics) and wall time, then the epochs saved and the ratio.

    python bench/sweep.py [--runs 12] [--epochs 9] [--method bayes] [--pruner hyperband|median]
"""

from __future__ import annotations

import argparse
import copy
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from deepfeat.devstack import DevStack

KEY = "df_bench_" + secrets.token_hex(16)


def sweep_config(runs: int, epochs: int, method: str) -> dict[str, Any]:
    return {
        "name": "bench-sweep",
        "base": {
            "dataset": "builtin:digits",
            "task": "classification",
            "model": {"type": "mlp", "hidden": [64]},
            "training": {"epochs": epochs, "batch_size": 64, "optimizer": {"name": "adam", "lr": 0.001}},
        },
        "method": method,
        "metric": {"name": "val_accuracy", "goal": "maximize"},
        "parameters": {
            "training.optimizer.lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1.0},
            "model.hidden": {"values": [[32], [64], [128, 64]]},
        },
        "run_cap": runs,
        "parallelism": 2,
        "seed": 7,
    }


def run_sweep(api: httpx.Client, config: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    created = api.post("/v1/sweeps", json=config)
    created.raise_for_status()
    sweep_id = created.json()["id"]
    while (sweep := api.get(f"/v1/sweeps/{sweep_id}").json())["status"] == "running":
        time.sleep(0.5)
    epochs = 0
    for trial in sweep["trials"]:
        rows = api.get(f"/v1/runs/{trial['run_id']}/metrics", params={"key": "val_accuracy"}).json()
        epochs += len({row["epoch"] for row in rows})
    return {
        "status": sweep["status"],
        "best": sweep["best_metric"],
        "pruned": sum(t["status"] == "pruned" for t in sweep["trials"]),
        "epochs": epochs,
        "seconds": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=9)
    parser.add_argument("--method", default="bayes", choices=["bayes", "random"])
    parser.add_argument("--pruner", default="hyperband", choices=["hyperband", "median"])
    args = parser.parse_args()
    base = sweep_config(args.runs, args.epochs, args.method)
    pruned_config = copy.deepcopy(base) | {"early_terminate": {"type": args.pruner, "min_iter": 1}}
    with (
        tempfile.TemporaryDirectory() as tmp,
        DevStack(Path(tmp) / "var", KEY) as stack,
        httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as api,
    ):
        results = {args.pruner: run_sweep(api, pruned_config), "none": run_sweep(api, base)}
    print(f"{args.method} sweep, {args.runs} trials x {args.epochs} epochs on digits")
    print(f"{'early termination':<18} {'best':>7} {'pruned':>7} {'epochs':>7} {'seconds':>8}")
    for name, r in results.items():
        print(f"{name:<18} {r['best']:>7.4f} {r['pruned']:>7} {r['epochs']:>7} {r['seconds']:>8.1f}")
    saved = results["none"]["epochs"] - results[args.pruner]["epochs"]
    ratio = results[args.pruner]["epochs"] / results["none"]["epochs"]
    print(f"epochs saved by {args.pruner}: {saved} ({ratio:.2f}x the epochs of the sweep without it)")


if __name__ == "__main__":
    main()
