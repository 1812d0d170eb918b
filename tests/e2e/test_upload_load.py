"""20 concurrent uploads against a real API process, half over the cap: the capped ones get 413, the
others succeed, nothing partial stays, and the server's memory does not grow with what was sent."""

from __future__ import annotations

import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from deepfeat.devstack import DevStack
from tests.helpers.env import ADMIN_KEY

pytestmark = pytest.mark.e2e

CAP = 4 << 20
OVER = 24 << 20  # each capped upload sends 6× the cap; 10 of them: 240 MiB in all


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def small_npz(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    np.savez(buffer, X=rng.normal(size=(2000, 64)).astype(np.float32), y=rng.integers(0, 3, size=2000))
    return buffer.getvalue()  # ~0.5 MiB


def over_cap_body(boundary: str) -> Iterator[bytes]:
    """Chunked (no Content-Length), so the server must count the stream itself."""
    yield f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\n'.encode()
    block = b"1,2,3\n" * (1 << 16)
    sent = 0
    while sent < OVER:
        yield block
        sent += len(block)
    yield f"\r\n--{boundary}--\r\n".encode()


def test_concurrent_uploads_half_over_the_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPFEAT_UPLOAD_MAX_BYTES", str(CAP))
    with DevStack(tmp_path / "var", ADMIN_KEY, worker=False) as stack:
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        pid = stack.processes["api"].pid
        with httpx.Client(base_url=stack.url, headers=headers, timeout=120) as warm:
            # Warm up every code path once so the baseline includes imports and caches.
            files = {"file": ("warm.npz", small_npz(99))}
            assert warm.post("/v1/datasets", files=files).status_code == 201
        baseline = peak_rss_kib(pid)

        def send(i: int) -> int:
            with httpx.Client(base_url=stack.url, headers=headers, timeout=120) as c:
                if i % 2:
                    boundary = f"b{i}"
                    response = c.post(
                        "/v1/datasets",
                        content=over_cap_body(boundary),
                        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
                    )
                else:
                    response = c.post("/v1/datasets", files={"file": (f"ok{i}.npz", small_npz(i))})
                return response.status_code

        with ThreadPoolExecutor(max_workers=20) as pool:
            statuses = list(pool.map(send, range(20)))
        growth_mib = (peak_rss_kib(pid) - baseline) / 1024

        assert [s for i, s in enumerate(statuses) if i % 2] == [413] * 10, statuses
        assert [s for i, s in enumerate(statuses) if not i % 2] == [201] * 10, statuses
        # 240 MiB were sent to be refused; the server's peak grew by a small, bounded amount.
        assert growth_mib < 80, f"peak RSS grew {growth_mib:.0f} MiB"
        listed = httpx.get(f"{stack.url}/v1/datasets?limit=100", headers=headers).json()["data"]
        assert len(listed) == 11
        tmp = stack.data_dir / "artifacts" / "tmp"
        assert list(tmp.iterdir()) == []  # no partial upload kept
        stored = sum(p.stat().st_size for p in (stack.data_dir / "artifacts").rglob("*") if p.is_file())
        assert stored < 11 * 3 * (1 << 20)  # the accepted data only, never the refused bytes
        print(f"peak RSS growth {growth_mib:.1f} MiB over 10×{OVER >> 20} MiB refused uploads")
