"""deepfeat's GAN against the hand-written reference loop (tests/gan_reference.py), side by side.

Same networks, optimizer (Adam 1e-3), batch size, steps, split and seed on generated multi-modal tables
(tests/gan_data.py) and digits. Per seed it prints the validation `val_mmd` of deepfeat's last epoch
(the reference's equal: same steps), of the generator deepfeat keeps (its best epoch), the reference's,
and the training throughput of each (samples/s; deepfeat's from its `samples_per_s` metric, which
excludes the per-epoch quality pass; "e2e" charges deepfeat everything, setup and scoring included).
Targets: last-epoch val_mmd within 10% (+0.002) of the reference's; kept ≤ last; throughput ≥ 0.8×.

    python bench/gan.py [--epochs 10] [--rows 2000] [--diagnostics]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the reference and the data live in tests/

from deepfeat.config import Settings
from deepfeat.data.builtins import load_builtin
from deepfeat.specs.runs import RunSpec
from deepfeat.train.job import train
from deepfeat.train.splits import split_indices
from tests.gan_data import SETS, dataset
from tests.gan_reference import train_reference
from tests.unit.train.test_training import Recorder

SEEDS = (0, 1, 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--diagnostics", action="store_true", help="deepfeat's per-layer diagnostics on")
    args = parser.parse_args()
    digits = np.asarray(load_builtin("digits").X, dtype=np.float32).reshape(-1, 1, 8, 8)
    sets = {name: make(args.rows, 0) for name, make in SETS.items()} | {"digits": digits}
    print(
        f"{'set':8} {'seed':>4} {'df last':>9} {'df kept':>9} {'@ep':>4} {'ref':>9} "
        f"{'df smp/s':>9} {'df e2e':>9} {'ref smp/s':>9} {'ratio':>6}"
    )
    ratios = []
    for name, x in sets.items():
        image = x.ndim == 4
        for seed in SEEDS:
            data = dataset(x)
            if image:
                data = replace(data, schema=data.schema.with_(modality="image"))
            spec = RunSpec.model_validate(
                {
                    "dataset": name,
                    "task": "gan",
                    "model": {"type": "gan"},
                    "training": {
                        "epochs": args.epochs,
                        "batch_size": 64,
                        "seed": seed,
                        "diagnostics": args.diagnostics,
                    },
                }
            )
            recorder = Recorder()
            started = time.perf_counter()
            outcome = train(spec, data, recorder, Settings())
            wall = time.perf_counter() - started
            split = split_indices(np.zeros(len(x)), 0.2, seed, stratify=False)
            ref = train_reference(
                x[split.train],
                x[split.val],
                seed=seed,
                epochs=args.epochs,
                scaling="minmax" if image else "standard",
            )
            ours = statistics.median(e["samples_per_s"] for e in recorder.epochs)
            e2e = len(split.train) * args.epochs / wall
            ratios.append(ours / ref.samples_per_s)
            print(
                f"{name:8} {seed:>4} {recorder.epochs[-1]['val_mmd']:>9.4f} "
                f"{outcome.result.best['val_mmd']:>9.4f} {outcome.result.best_epoch:>4} "
                f"{ref.quality['val_mmd']:>9.4f} {ours:>9.0f} {e2e:>9.0f} {ref.samples_per_s:>9.0f} "
                f"{ours / ref.samples_per_s:>6.2f}",
                flush=True,
            )
    print(f"throughput deepfeat/reference (steps): median {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
