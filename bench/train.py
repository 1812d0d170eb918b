"""deepfeat's training engine against a minimal hand-written PyTorch loop, side by side in one process.

Same model (built from the same spec), same data, batch size, epochs and optimizer; the hand loop does
only forward, loss, backward, step. Prints throughput ratios (engine / hand), with diagnostics off and on:
"steps" compares training steps alone (the engine's own per-epoch `samples_per_s`), "end to end" also
charges the engine its setup, per-epoch validation pass and weight saving, which the hand loop skips.
Targets (steps): ≥ 0.95 off, ≥ 0.85 on. Run it on a quiet machine: other load swamps the ratios.

    python bench/train.py [--epochs 3] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from deepfeat.config import Settings
from deepfeat.data.arrays import ArrayDataset
from deepfeat.data.builtins import load_builtin
from deepfeat.specs.runs import RunSpec
from deepfeat.train.job import train
from deepfeat.train.setup import setup_run
from deepfeat.train.splits import split_indices


class Silent:
    """Records only the engine's own training throughput per epoch."""

    def __init__(self) -> None:
        self.samples_per_s: list[float] = []

    def epoch_end(self, epoch: int, step: int, metrics: dict[str, float]) -> None:
        self.samples_per_s.append(metrics["samples_per_s"])

    def warn(self, message: str, data: dict[str, Any]) -> None:
        pass

    def artifact(self, name: str, content: bytes, media_type: str) -> None:
        pass

    def should_stop(self) -> bool:
        return False


def hand_loop(spec: RunSpec, data: ArrayDataset) -> float:
    """Samples per second of the plainest correct loop over the same split and model."""
    torch.manual_seed(spec.training.seed)
    setup = setup_run(spec, data.schema, Settings())
    split = split_indices(data.y, spec.training.val_fraction, spec.training.seed, stratify=True)
    x = torch.from_numpy(np.asarray(data.X, dtype=np.float32)).reshape(-1, *setup.input_shape)[split.train]
    y = torch.from_numpy(data.y.astype(np.int64))[split.train]
    model = setup.model
    model.input_norm.fit(x)
    optimizer = torch.optim.Adam(model.parameters(), lr=spec.training.optimizer.lr)
    generator = torch.Generator().manual_seed(0)
    model.train()
    started = time.perf_counter()
    for _ in range(spec.training.epochs):
        for idx in torch.randperm(len(x), generator=generator).split(spec.training.batch_size):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return len(x) * spec.training.epochs / (time.perf_counter() - started)


def engine(spec: RunSpec, data: ArrayDataset) -> tuple[float, float]:
    """(end to end incl. setup, validation passes and saving; training steps only, as the engine logs it)."""
    reporter = Silent()
    started = time.perf_counter()
    outcome = train(spec, data, reporter, Settings())
    elapsed = time.perf_counter() - started
    steps_only = len(reporter.samples_per_s) / sum(1 / s for s in reporter.samples_per_s)  # harmonic mean
    return outcome.receipt["n_train"] * spec.training.epochs / elapsed, steps_only


def large_tabular() -> ArrayDataset:
    """Digits repeated ×20 with noise: 36k samples, enough steps to time well."""
    digits = load_builtin("digits")
    rng = np.random.default_rng(0)
    X = np.concatenate([digits.X + rng.normal(0, 0.5, digits.X.shape).astype(np.float32) for _ in range(20)])
    return ArrayDataset(X=X.astype(np.float32), y=np.tile(digits.y, 20), schema=digits.schema)


CASES = {
    "mlp [256, 256] on 36k digits": (large_tabular, {"type": "mlp", "hidden": [256, 256]}),
    "cnn [16, 32] on 36k digits": (large_tabular, {"type": "cnn", "channels": [16, 32], "hidden": [64]}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; median of {args.repeats} runs each")
    for name, (load, model) in CASES.items():
        data = load()
        for diagnostics in (False, True):
            spec = RunSpec.model_validate(
                {
                    "dataset": "builtin:digits",
                    "task": "classification",
                    "model": model,
                    "training": {
                        "epochs": args.epochs,
                        "batch_size": 64,
                        "optimizer": {"name": "adam", "lr": 0.001},
                        "diagnostics": diagnostics,
                    },
                }
            )
            hand, whole, steps = [], [], []
            for _ in range(args.repeats):  # interleaved, so drift in machine load hits both alike
                hand.append(hand_loop(spec, data))
                end_to_end, steps_only = engine(spec, data)
                whole.append(end_to_end)
                steps.append(steps_only)
            h, w, s = statistics.median(hand), statistics.median(whole), statistics.median(steps)
            label = "diagnostics on " if diagnostics else "diagnostics off"
            print(
                f"  {name:30s} {label}: hand {h:7.0f}/s | deepfeat steps {s:7.0f}/s, ratio {s / h:.2f}"
                f" | end to end (with validation) {w:7.0f}/s, ratio {w / h:.2f}"
            )


if __name__ == "__main__":
    main()
