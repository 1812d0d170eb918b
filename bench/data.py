"""Epoch throughput over a 1,000,000 × 64 float32 dataset: memory-mapped `.npy` (how datasets are stored)
against the same data as an in-memory tensor, and each mode's peak memory as a multiple of the data.

Each mode runs in its own process (so peaks do not mix), with one torch thread, training a small MLP
for two shuffled epochs after one warm-up epoch. Prints numbers; targets: ratio ≥ 0.9, peak ≤ 1.5×.

    .venv/bin/python bench/data.py [--rows 1000000] [--features 64] [--batch 1024]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def child(mode: str, store_dir: Path, manifest: str, batch: int, epochs: int) -> dict[str, float]:
    import torch
    from torch import nn

    from deepfeat.data.arrays import read_manifest, read_normalised
    from deepfeat.data.loader import batches
    from deepfeat.storage.local import FileStore

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    baseline = rss_kib()  # after imports and the model: what the data adds is measured above this

    store = FileStore(store_dir)
    if mode.startswith("tensor"):
        # Read whole into process memory (no mapping), as the training loop's tensors are.
        arrays = read_manifest(store, manifest)["arrays"]
        x_all = torch.from_numpy(np.load(store.path(arrays["X"]["key"]), allow_pickle=False))
        y_all = torch.from_numpy(np.load(store.path(arrays["y"]["key"]), allow_pickle=False))
        n = x_all.shape[0]
        sort = mode == "tensor-sorted"

        def epoch_batches(gen: torch.Generator):  # type: ignore[no-untyped-def]
            for idx in torch.randperm(n, generator=gen).split(batch):
                idx = idx.sort().values if sort else idx
                yield x_all[idx], y_all[idx]
    else:
        data = read_normalised(store, manifest, {})
        rng = np.random.default_rng(0)

        def epoch_batches(gen: torch.Generator):  # type: ignore[no-untyped-def]
            yield from batches(data.X, data.y, batch, rng)

    gen = torch.Generator().manual_seed(0)
    times = []
    for epoch in range(epochs + 1):  # epoch 0 warms caches and page tables
        started = time.perf_counter()
        seen = 0
        for xb, yb in epoch_batches(gen):
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(xb), yb).backward()
            optimizer.step()
            seen += len(xb)
        if epoch:
            times.append(time.perf_counter() - started)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "samples_per_s": seen / float(np.median(times)),
        "epoch_s": float(np.median(times)),
        "peak_over_baseline_bytes": (peak_kib - baseline) * 1024.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "MANIFEST"))
    parser.add_argument("--store")
    args = parser.parse_args()
    if args.child:
        result = child(args.child[0], Path(args.store), args.child[1], args.batch, args.epochs)
        print(json.dumps(result))
        return

    from deepfeat.data.arrays import ArrayDataset, write_normalised
    from deepfeat.storage.local import FileStore

    with tempfile.TemporaryDirectory(prefix="bench-data-") as tmp:
        rng = np.random.default_rng(0)
        X = rng.standard_normal((args.rows, args.features), dtype=np.float32)
        y = rng.integers(0, 10, size=args.rows)
        manifest, _ = write_normalised(ArrayDataset(X, y, {}), FileStore(Path(tmp)))
        data_bytes = X.nbytes + y.nbytes
        del X, y
        results = {}
        for mode in ("tensor", "tensor-sorted", "memmap"):
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    mode,
                    manifest.key,
                    "--store",
                    tmp,
                    "--batch",
                    str(args.batch),
                    "--epochs",
                    str(args.epochs),
                ],
                check=True,
                capture_output=True,
                text=True,
                env={**os.environ, "OMP_NUM_THREADS": "1"},
            )
            results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    size_mib = data_bytes / 2**20
    print(
        f"dataset: {args.rows:,} × {args.features} float32 + int64 labels = {size_mib:.0f} MiB; "
        f"batch {args.batch}, MLP 64-128-10, 1 torch thread, median of {args.epochs} epochs"
    )
    for mode, r in results.items():
        print(
            f"  {mode:13s} {r['samples_per_s']:>12,.0f} samples/s  epoch {r['epoch_s']:.2f} s  "
            f"peak +{r['peak_over_baseline_bytes'] / 2**20:.0f} MiB "
            f"({r['peak_over_baseline_bytes'] / data_bytes:.2f}× the data)"
        )
    ratio = results["memmap"]["samples_per_s"] / results["tensor"]["samples_per_s"]
    same_order = results["memmap"]["samples_per_s"] / results["tensor-sorted"]["samples_per_s"]
    print(f"memmap / in-memory with the same sorted-batch gather: {same_order:.2f}")
    peak = results["memmap"]["peak_over_baseline_bytes"] / data_bytes
    verdict = "OK" if ratio >= 0.9 else "BELOW"
    print(f"memmap / in-memory tensor as the training loop uses it: {ratio:.2f} (target ≥ 0.9) {verdict}")
    print(f"memmap peak memory: {peak:.2f}× the data (target ≤ 1.5×) {'OK' if peak <= 1.5 else 'ABOVE'}")


if __name__ == "__main__":
    main()
