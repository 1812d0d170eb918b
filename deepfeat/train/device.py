"""Where and in what precision a run trains.

CUDA when the spec asks for `gpu` (or `auto`) and a GPU is visible (this pool process's own one,
deepfeat/gpus.py) — only ever touched inside the process that trains, never in a Celery parent.
Autocast to bf16/fp16 on CUDA, and bf16 on CPUs that have bf16 units (`precision: bf16`, or `auto`
where supported); fp16 uses a gradient scaler.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from deepfeat.gpus import process_slot

# Whole datasets up to this size are moved to the GPU once; larger ones stream pinned batches.
DEVICE_RESIDENT_BYTES = 2 * 2**30


@dataclass(frozen=True)
class Placement:
    device: torch.device
    dtype: torch.dtype | None  # autocast dtype; None: full fp32
    scaler: torch.amp.GradScaler | None

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        if self.dtype is None:
            yield
            return
        with torch.autocast(device_type=self.device.type, dtype=self.dtype):
            yield

    # The loss scaler (fp16 on CUDA) lives behind these three, so training loops read the same with
    # and without it.
    def backward(self, loss: torch.Tensor) -> None:
        """Backpropagate `loss`, scaled where fp16 needs it (gradients then carry the scale)."""
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """Divide `optimizer`'s gradients by the loss scale, so clipping and norms see true gradients."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer, update: bool = True) -> None:
        """Apply the gradients (skipped by the scaler on inf/NaN); `update=False` where several
        optimizers share one scaler, which then moves once per batch with `update_scale`."""
        if self.scaler is None:
            optimizer.step()
            return
        self.scaler.step(optimizer)
        if update:
            self.scaler.update()

    def update_scale(self) -> None:
        if self.scaler is not None:
            self.scaler.update()

    def describe(self) -> str:
        precision = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]
        if self.device.type != "cuda":
            return f"cpu ({precision})"
        return f"{self.device} {torch.cuda.get_device_name(self.device)} ({precision})"  # which GPU, too


def cpu_has_bf16() -> bool:
    """bf16 autocast pays off on CPUs with native bf16 (AVX512-BF16 / AMX); elsewhere it only emulates."""
    capability = getattr(torch.backends.cpu, "get_cpu_capability", lambda: "")()
    return "AVX512" in capability.upper() or "AMX" in capability.upper()


def placement(device: str, precision: str, rank: int | None = None) -> Placement:
    """Where to train: this pool process's own GPU (deepfeat/gpus.py); `rank` (data-parallel runs) picks
    that rank's, the rank-th after it, one GPU per rank."""
    use_cuda = device in ("gpu", "auto") and torch.cuda.is_available()
    target = torch.device("cpu")
    if use_cuda:
        target = torch.device(process_slot(torch.cuda.device_count(), rank or 0).device)
    dtype: torch.dtype | None = None
    if precision == "bf16":
        dtype = torch.bfloat16
    elif precision == "fp16":
        dtype = torch.float16 if use_cuda else torch.bfloat16  # CPUs autocast only to bf16
    elif precision == "auto":
        if use_cuda:
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        elif cpu_has_bf16():
            dtype = torch.bfloat16
    scaler = torch.amp.GradScaler("cuda") if use_cuda and dtype == torch.float16 else None
    return Placement(target, dtype, scaler)


def place_data(x: torch.Tensor, where: Placement) -> torch.Tensor:
    """Small data goes to the device once; large data stays on the host, pinned for async copies."""
    if where.device.type == "cpu":
        return x
    if x.numel() * x.element_size() <= DEVICE_RESIDENT_BYTES:
        return x.to(where.device)
    return x.pin_memory()


def is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError)
