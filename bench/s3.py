"""A dataset of ≥ 500 MB through the S3 backend (a local `moto_server`): upload, train, train again.

Prints, measured side by side in one run:
- upload throughput through the API vs a plain boto3 `upload_file` of the same file;
- the API's peak growth of anonymous memory (`RssAnon`) during the upload, as a multiple of the data
  (target ≤ 64 MB + 0.1×);
- the training worker's peak RssAnon growth (target ≤ 0.3× the data + the model);
- samples/s from the memory map (`MappedRows`) vs pre-built in-memory tensors, in this process (≥ 0.9×);
- a second run on the same dataset: the worker's cached copy is reused (same inode: no download).

    .venv/bin/python bench/s3.py [--rows 2000000] [--features 64]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import httpx
import numpy as np

KEY = "df_bench_" + "k" * 32
ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}


def rss_anon_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def descendants(pid: int) -> list[int]:
    found = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        found += [int(child), *descendants(int(child))]
    return found


class Peak(threading.Thread):
    """Samples the largest RssAnon of `pids()` every 20 ms until stopped."""

    def __init__(self, pids: Any) -> None:
        super().__init__(daemon=True)
        self.pids, self.peak, self.done = pids, 0, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max([self.peak, *(rss_anon_kib(p) for p in self.pids())])
            time.sleep(0.02)

    def stop(self) -> int:
        self.done.set()
        self.join()
        return self.peak


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--features", type=int, default=64)
    args = parser.parse_args()
    os.environ.update(ENV)
    from deepfeat.devstack import DevStack

    work = Path(tempfile.mkdtemp(prefix="deepfeat-bench-s3-"))
    port = free_port()
    moto = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket="bench")
        rng = np.random.default_rng(0)
        X = rng.normal(size=(args.rows, args.features)).astype(np.float32)
        y = (X[:, 0] > 0).astype(np.int64)
        npz = work / "data.npz"
        np.savez(npz, X=X, y=y)
        size = npz.stat().st_size
        del X, y
        print(f"dataset: {args.rows} x {args.features} float32 NPZ, {size / 1e6:.0f} MB")

        started = time.perf_counter()
        s3.upload_file(str(npz), "bench", "plain/data.npz")
        plain = size / (time.perf_counter() - started)

        env = {**ENV, "DEEPFEAT_ARTIFACT_URL": "s3://bench/deepfeat", "DEEPFEAT_S3_ENDPOINT_URL": endpoint}
        with DevStack(work / "var", KEY, extra_env=env) as stack:
            api = httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=3600)
            api_pid = stack.processes["api"].pid
            base = rss_anon_kib(api_pid)
            peak = Peak(lambda: [api_pid])
            peak.start()
            started = time.perf_counter()
            with npz.open("rb") as handle:
                response = api.post(
                    "/v1/datasets", files={"file": ("data.npz", handle)}, data={"name": "big"}
                )
            through_api = size / (time.perf_counter() - started)
            api_growth = (peak.stop() - base) * 1024
            response.raise_for_status()
            print(
                f"upload: API {through_api / 1e6:.1f} MB/s vs plain boto3 {plain / 1e6:.1f} MB/s "
                f"({through_api / plain:.2f}x; the API also parses and stores the arrays)"
            )
            print(
                f"API RssAnon growth during upload: {api_growth / 1e6:.0f} MB = "
                f"{api_growth / size:.2f}x the data "
                f"(target <= 64 MB + 0.1x = {(64e6 + 0.1 * size) / 1e6:.0f} MB)"
            )

            spec = {
                "dataset": "big",
                "task": "classification",
                "model": {"type": "mlp", "hidden": [64]},
                "training": {"epochs": 1, "batch_size": 1024, "val_fraction": 0.1},
            }
            worker_pid = stack.processes["worker"].pid
            for attempt in ("first", "second"):
                children = descendants(worker_pid)
                base = max(rss_anon_kib(p) for p in children)
                peak = Peak(lambda: descendants(worker_pid))
                peak.start()
                run_id = api.post("/v1/runs", json=spec).json()["id"]
                while (run := api.get(f"/v1/runs/{run_id}").json())["status"] not in ("succeeded", "failed"):
                    time.sleep(0.5)
                growth = (peak.stop() - base) * 1024
                assert run["status"] == "succeeded", run["error"]
                metrics = api.get(f"/v1/runs/{run_id}/metrics", params={"key": "samples_per_s"}).json()
                cached = sorted(
                    (stack.data_dir / "cache" / "objects").rglob("*"), key=lambda p: p.stat().st_size
                )
                inode = cached[-1].stat().st_ino
                print(
                    f"{attempt} run: {metrics[-1]['value']:.0f} samples/s; worker RssAnon growth "
                    f"{growth / 1e6:.0f} MB = {growth / size:.2f}x the data; "
                    f"largest cached blob inode {inode}"
                )
        in_process(args.rows, args.features, work)
    finally:
        moto.terminate()
        moto.wait()


def in_process(rows: int, features: int, work: Path) -> None:
    """The loop's samples/s fed from the memory map vs from pre-built tensors, same data, one thread."""
    import torch

    from deepfeat.config import Settings
    from deepfeat.data.schema import DatasetSchema
    from deepfeat.specs.runs import RunSpec
    from deepfeat.train.batches import MappedRows
    from deepfeat.train.loop import Tensors, fit
    from deepfeat.train.setup import setup_run

    torch.set_num_threads(1)
    x = np.random.default_rng(1).normal(size=(rows, features)).astype(np.float32)
    np.save(work / "X.npy", x)
    mapped = np.load(work / "X.npy", mmap_mode="c")
    y = torch.from_numpy((x[:, 0] > 0).astype(np.int64))
    spec = RunSpec.model_validate(
        {
            "dataset": "d",
            "task": "classification",
            "model": {"type": "mlp", "hidden": [64]},
            "training": {"epochs": 2, "batch_size": 1024},
        }
    )
    schema = {
        "input_shape": [features],
        "target_type": "categorical",
        "classes": [{"label": 0}, {"label": 1}],
        "n_rows": rows,
        "modality": "tabular",
    }
    n_train = int(rows * 0.9)
    speeds = {}
    for mode in ("tensors", "map", "tensors", "map"):
        setup = setup_run(spec, DatasetSchema.model_validate(schema), Settings())
        if mode == "tensors":
            t = torch.from_numpy(x)
            train, val = Tensors(t[:n_train], y[:n_train]), Tensors(t[n_train:], y[n_train:])
        else:
            train = MappedRows(mapped, y, torch.arange(n_train), [features])
            val = MappedRows(mapped, y, torch.arange(n_train, rows), [features])
        recorder = _Quiet()
        fit(setup.model, setup.objective, train, val, spec.training, recorder)
        speeds[mode] = max(speeds.get(mode, 0.0), recorder.samples_per_s)
    print(
        f"in-process: map {speeds['map']:.0f} vs in-memory {speeds['tensors']:.0f} samples/s "
        f"= {speeds['map'] / speeds['tensors']:.2f}x (target >= 0.9)"
    )


class _Quiet:
    samples_per_s = 0.0

    def epoch_end(self, epoch: int, step: int, metrics: dict[str, float]) -> None:
        self.samples_per_s = max(self.samples_per_s, metrics["samples_per_s"])

    def warn(self, message: str, data: dict[str, Any]) -> None: ...

    def artifact(self, name: str, content: bytes, media_type: str) -> None: ...

    def should_stop(self) -> bool:
        return False


if __name__ == "__main__":
    main()
