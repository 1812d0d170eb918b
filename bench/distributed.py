"""Data-parallel overhead: world_size 1 against 2 for an MLP and a CNN on mnist-5k, side by side.

Each (model, world size) trains the same spec with the same seed and global batch through the real
launcher (rank 0 here, a follower process for rank 1; gloo on CPU, NCCL on CUDA with `--device gpu`).
Prints samples/s (mean over the epochs after the first, which pays for start-up), the final validation
accuracy, and world 2 as a ratio of world 1. On a machine whose cores are shared by both ranks expect no
speed-up: the number is the cost of the extra process and the all-reduces. On a machine busy with other
work, run it with `--threads 1` too: torch's OpenMP threads spin badly on contended cores, which can make
the one-process, two-thread run look many times slower than it is.

    .venv/bin/python bench/distributed.py [--epochs 3] [--batch 128] [--device cpu|gpu] [--threads N]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch

from deepfeat.config import Settings
from deepfeat.data.builtins import load_builtin
from deepfeat.specs.runs import RunSpec
from deepfeat.train.launch import train_on_ranks

MODELS: dict[str, dict[str, Any]] = {
    "mlp": {"type": "mlp", "hidden": [256, 128]},
    "cnn": {"type": "cnn", "channels": [16, 32], "kernel_size": 3, "hidden": [64]},
}


class Epochs:
    """Records each epoch's metrics; never stops the run."""

    def __init__(self) -> None:
        self.metrics: list[dict[str, float]] = []

    def epoch_end(self, epoch: int, step: int, metrics: dict[str, float]) -> None:
        self.metrics.append(metrics)

    def warn(self, message: str, data: dict[str, Any]) -> None:
        """Warnings are not part of the figures."""

    def artifact(self, name: str, content: bytes, media_type: str) -> None:
        """No files in a benchmark."""

    def should_stop(self) -> bool:
        return False


def measure(model: str, world: int, args: argparse.Namespace, settings: Settings) -> dict[str, float]:
    spec = RunSpec.model_validate(
        {
            "dataset": "builtin:mnist-5k",
            "task": "classification",
            "model": MODELS[model],
            "training": {
                "epochs": args.epochs,
                "batch_size": args.batch,
                "world_size": world,
                "device": args.device,
                "diagnostics": False,
            },
        }
    )
    recorder = Epochs()
    started = time.perf_counter()
    outcome = train_on_ranks(spec, load_builtin("mnist-5k"), recorder, settings)
    wall = time.perf_counter() - started
    steady = recorder.metrics[1:] or recorder.metrics
    return {
        "samples_per_s": sum(m["samples_per_s"] for m in steady) / len(steady),
        "val_accuracy": outcome.result.best["val_accuracy"],
        "wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch threads shared by the ranks")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = Settings()
    backend = "nccl" if args.device == "gpu" and torch.cuda.is_available() else "gloo"
    threads = torch.get_num_threads()
    print(f"mnist-5k, {args.epochs} epochs, global batch {args.batch}, {threads} threads, {backend}")
    print(f"{'model':<5} {'world':>5} {'samples/s':>10} {'val_acc':>8} {'wall_s':>7} {'speed vs 1':>10}")
    for model in MODELS:
        base: dict[str, float] | None = None
        for world in (1, 2):
            row = measure(model, world, args, settings)
            base = base or row
            ratio = row["samples_per_s"] / base["samples_per_s"]
            print(
                f"{model:<5} {world:>5} {row['samples_per_s']:>10.0f} {row['val_accuracy']:>8.4f} "
                f"{row['wall_s']:>7.1f} {ratio:>10.2f}"
            )


if __name__ == "__main__":
    main()
