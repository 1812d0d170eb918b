"""What a request costs: `GET /v1/runs/{id}` on deepfeat against a minimal FastAPI app doing the same work
and bare FastAPI, side by side in one run, loaded by `wrk` (Debian package) at c=1 and c=32.

All three are uvicorn processes started the same way (one process, `--no-access-log`), reading the same
SQLite file; rounds alternate between them so a noisy neighbour hurts each alike. Prints requests/s and
p50 per server and the ratio deepfeat / minimal (target ≥ 0.9).

    python bench/api.py [--rounds 3] [--seconds 5]
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from deepfeat.devstack import DevStack, free_port

KEY = "df_bench_" + secrets.token_hex(16)
BENCH_DIR = Path(__file__).resolve().parent


def start_uvicorn(app: str, env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", app, "--port", str(port), "--no-access-log"]
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=BENCH_DIR)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(url + "/docs", timeout=1)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{app} did not start:\n{log.read_text()}")


def wrk(url: str, connections: int, seconds: int) -> tuple[float, float]:
    """Requests/s and p50 in ms from one wrk run."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    out = subprocess.run(
        [*argv, "-H", f"Authorization: Bearer {KEY}", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    if re.search(r"Non-2xx or 3xx responses: \d+", out):
        raise RuntimeError(f"non-2xx answers from {url}:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"50%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    p50 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return rps, p50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 32])
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "var"
        stack = DevStack(data_dir, KEY, worker=False).start()
        try:
            headers = {"Authorization": f"Bearer {KEY}"}
            spec = {"dataset": "builtin:iris", "task": "classification", "model": {"type": "mlp"}}
            run = httpx.post(f"{stack.url}/v1/runs", json=spec, headers=headers, timeout=30).json()
            path = f"/v1/runs/{run['id']}"
            env = {**os.environ, "DEEPFEAT_BENCH_DB": f"sqlite:///{data_dir / 'deepfeat.db'}"}
            servers: dict[str, tuple[subprocess.Popen[bytes] | None, str]] = {"deepfeat": (None, stack.url)}
            procs = []
            for name in ("minimal", "bare"):
                proc, url = start_uvicorn(f"api_minimal:{name}", env, Path(tmp) / f"{name}.log")
                procs.append(proc)
                servers[name] = (proc, url)
            try:
                results: dict[tuple[str, int], list[tuple[float, float]]] = {}
                for _ in range(args.rounds):
                    for connections in args.connections:
                        for name, (_, url) in servers.items():
                            results.setdefault((name, connections), []).append(
                                wrk(url + path, connections, args.seconds)
                            )
            finally:
                for proc in procs:
                    proc.terminate()
                    proc.wait()
        finally:
            stack.stop()

    print(f"GET /v1/runs/{{id}}, {args.rounds} rounds of {args.seconds} s, medians (min–max)")
    print(f"{'server':10} {'c':>3} {'req/s':>22} {'p50 ms':>8}")
    for (name, connections), runs in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        rps = [r for r, _ in runs]
        print(
            f"{name:10} {connections:>3} {statistics.median(rps):>9.0f} ({min(rps):.0f}–{max(rps):.0f})"
            f"{'':>3} {statistics.median(p for _, p in runs):>8.2f}"
        )
    for connections in args.connections:
        ratios = [
            d / m
            for (d, _), (m, _) in zip(
                results[("deepfeat", connections)], results[("minimal", connections)], strict=True
            )
        ]
        median = statistics.median(ratios)
        print(f"deepfeat / minimal at c={connections}: {median:.2f} (per-round ratios; target ≥ 0.9)")


if __name__ == "__main__":
    main()
