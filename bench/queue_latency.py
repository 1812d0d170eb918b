"""Submit → worker-start latency on both brokers (median of 20), measured side by side in one run.

Starts a real API and worker (deepfeat.devstack) on the embedded defaults, then on PostgreSQL + Redis
when DEEPFEAT_TEST_DATABASE_URL / DEEPFEAT_TEST_REDIS_URL are set, submits tiny runs one at a time and
reads `started_at - created_at` from each run (both stamped by the database clock's host).

    python bench/queue_latency.py [--n 20]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

from deepfeat.devstack import DevStack

KEY = "df_bench_" + secrets.token_hex(16)
SPEC = {
    "dataset": "builtin:iris",
    "task": "classification",
    "model": {"type": "mlp", "hidden": [8]},
    "training": {"epochs": 1},
}


def measure(stack: DevStack, n: int) -> list[float]:
    headers = {"Authorization": f"Bearer {KEY}"}
    latencies = []
    with httpx.Client(base_url=stack.url, headers=headers, timeout=30) as api:
        api.post("/v1/datasets", json={"builtin": "iris"})
        for _ in range(n):
            run = api.post("/v1/runs", json=SPEC).json()
            while (run := api.get(f"/v1/runs/{run['id']}").json())["status"] in ("queued", "running"):
                time.sleep(0.02)
            created, started = (datetime.fromisoformat(run[k]) for k in ("created_at", "started_at"))
            latencies.append((started - created).total_seconds() * 1000)
    return latencies


@contextmanager
def fresh_pg(url: str) -> Iterator[str]:
    """A new database for the bench, dropped afterwards."""
    u = make_url(url)
    name = f"deepfeat_bench_{secrets.token_hex(4)}"
    admin = f"host={u.host} port={u.port or 5432} user={u.username} dbname={u.database}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield u.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20)
    n = parser.parse_args().n
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        with DevStack(Path(tmp) / "embedded", KEY) as stack:
            results["embedded (SQLite + SQLite broker)"] = measure(stack, n)
        pg, redis = os.environ.get("DEEPFEAT_TEST_DATABASE_URL"), os.environ.get("DEEPFEAT_TEST_REDIS_URL")
        if pg and redis:
            with fresh_pg(pg) as database, DevStack(Path(tmp) / "pg", KEY, database, redis) as stack:
                results["PostgreSQL + Redis"] = measure(stack, n)
    print(f"submit → worker start, {n} runs each (ms)")
    for name, values in results.items():
        print(
            f"  {name:36s} median {statistics.median(values):7.1f}   p90 "
            f"{statistics.quantiles(values, n=10)[-1]:7.1f}   min {min(values):6.1f}"
        )
    if len(results) == 2:
        a, b = (statistics.median(v) for v in results.values())
        print(f"  ratio embedded / redis: {a / b:.2f}×")


if __name__ == "__main__":
    main()
