"""MiniLM-L6 served over HTTP under concurrency, against the raw model and a naive server, in one run.

Side by side on this machine:
  raw      the in-process forward at batch 32 (the ceiling) and at batch 1 (the latency floor);
  batched  the real API process (uvicorn, deepfeat.devstack, no worker) with dynamic batching, 32
           concurrent clients sending one sentence per request;
  naive    the same server with EMBED_MAX_BATCH=1: one request, one forward;
and the opt-in bf16 path (speed-up and cosine to fp32). The load generator is a minimal keep-alive
HTTP/1.1 client on asyncio streams, so the client's own CPU takes as little from the server as it can
(httpx would cost several times more per request on a 2-core machine).

    python bench/embed.py [--seconds 8] [--threads N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from deepfeat.devstack import DevStack
from deepfeat.encoders.catalogue import load_pretrained
from deepfeat.encoders.embedder import EmbedOptions

KEY = "df_bench_" + secrets.token_hex(16)
SENTENCES = [
    f"{subject} {verb} the {thing} near the {place} this morning."
    for subject in ("The engineer", "A small dog", "My neighbour", "The committee")
    for verb in ("moved", "found", "painted", "ignored")
    for thing in ("blue box", "old bicycle")
    for place in ("station",)
]  # 32 distinct sentences of similar length (11-13 tokens)


def raw_rate(batch: int, seconds: float, bf16: bool = False) -> float:
    """Sentences per second of tokenise + forward + pool in-process at `batch`."""
    minilm = load_pretrained("minilm-l6")
    options = EmbedOptions(normalize=True, bf16=bf16)
    texts = (SENTENCES * (batch // len(SENTENCES) + 1))[:batch]
    minilm.embed(minilm.prepare(texts), options)  # warm-up
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        minilm.embed(minilm.prepare(texts), options)
        done += batch
    return done / (time.perf_counter() - started)


def raw_latency_ms(n: int) -> float:
    minilm = load_pretrained("minilm-l6")
    options = EmbedOptions(normalize=True)
    times = []
    for i in range(n):
        started = time.perf_counter()
        minilm.embed(minilm.prepare([SENTENCES[i % 32]]), options)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def bf16_cosine() -> float:
    minilm = load_pretrained("minilm-l6")
    items = minilm.prepare(SENTENCES)
    fp32 = np.stack(minilm.embed(items, EmbedOptions(normalize=True)))
    bf16 = np.stack(minilm.embed(items, EmbedOptions(normalize=True, bf16=True)))
    return float(np.min(np.sum(fp32 * bf16, axis=1)))


def request_bytes(port: int, sentence: str) -> bytes:
    body = json.dumps({"inputs": [sentence]}).encode()
    head = (
        f"POST /v1/encoders/minilm-l6/embed HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _client(port: int, index: int, until: float, latencies: list[float]) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    payload = request_bytes(port, SENTENCES[index % len(SENTENCES)])
    done = 0
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            writer.write(payload)
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            if b" 200 " not in status:
                raise RuntimeError(f"server answered {status!r}")
            latencies.append(time.perf_counter() - started)
            done += 1
    finally:
        writer.close()
    return done


async def load(port: int, concurrency: int, seconds: float) -> tuple[float, float]:
    """(requests per second, median latency ms) with `concurrency` clients for `seconds`."""
    latencies: list[float] = []
    await asyncio.gather(*(_client(port, i, time.perf_counter() + 1.0, []) for i in range(concurrency)))
    started = time.perf_counter()
    counts = await asyncio.gather(
        *(_client(port, i, started + seconds, latencies) for i in range(concurrency))
    )
    return sum(counts) / (time.perf_counter() - started), statistics.median(latencies) * 1000


def serve(data_dir: Path, threads: int, max_batch: int, seconds: float) -> tuple[float, float]:
    env = {
        "DEEPFEAT_INFERENCE_THREADS": str(threads),
        "DEEPFEAT_EMBED_MAX_BATCH": str(max_batch),
    }
    with DevStack(data_dir, KEY, worker=False, extra_env=env) as stack:
        rate, _ = asyncio.run(load(stack.port, 32, seconds))
        _, latency = asyncio.run(load(stack.port, 1, min(seconds, 4)))
    return rate, latency


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    # One torch thread by default: on a 2-core machine the load generator needs the other core, and a
    # second torch thread on a shared, loaded machine made the raw forward 3.5× slower (OpenMP waits).
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    raw32 = raw_rate(32, args.seconds)
    raw32_bf16 = raw_rate(32, args.seconds, bf16=True)
    raw1_ms = raw_latency_ms(100)
    cosine = bf16_cosine()
    with tempfile.TemporaryDirectory() as tmp:
        batched, batched_ms = serve(Path(tmp) / "batched", args.threads, 32, args.seconds)
        naive, _ = serve(Path(tmp) / "naive", args.threads, 1, args.seconds)

    print(f"minilm-l6, {args.threads} torch threads, {os.cpu_count()} cores, {args.seconds:.0f} s per figure")
    print(f"  raw in-process forward, batch 32      {raw32:8.1f} sentences/s")
    print(f"  HTTP, dynamic batching, 32 clients    {batched:8.1f} req/s → {batched / raw32:.2f}× raw")
    print(
        f"  HTTP, naive (max batch 1), 32 clients {naive:8.1f} req/s → batched {batched / naive:.2f}× naive"
    )
    ceiling = raw32 / (1000 / raw1_ms)
    print(
        f"  (raw batch 32 ÷ raw batch 1 = {ceiling:.2f}×: what batching gains over one-at-a-time forwards "
        "when nothing else shares the cores)"
    )
    print(
        f"  latency at concurrency 1: HTTP {batched_ms:.1f} ms vs raw batch-1 forward {raw1_ms:.1f} ms "
        f"(+{batched_ms - raw1_ms:.1f} ms)"
    )
    print(
        f"  bf16 autocast, raw batch 32           {raw32_bf16:8.1f} sentences/s → "
        f"{raw32_bf16 / raw32:.2f}× fp32, min cosine to fp32 {cosine:.5f}"
    )


if __name__ == "__main__":
    main()
