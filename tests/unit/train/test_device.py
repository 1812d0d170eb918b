"""Precision and micro-batching: what runs on a CPU-only machine is tested here; CUDA paths need a GPU."""

from __future__ import annotations

import torch

from deepfeat.nn import create_model
from deepfeat.specs.model import MLPSpec
from deepfeat.train.device import placement
from deepfeat.train.loop import ForwardBackward
from deepfeat.train.objectives import Classification
from tests.helpers.training import Recorder, spec


def test_a_gpu_request_without_cuda_falls_back_to_cpu_fp32() -> None:
    where = placement("gpu", "fp32")
    assert where.device.type == "cpu"
    assert where.dtype is None
    assert placement("cpu", "bf16").dtype == torch.bfloat16
    assert placement("cpu", "fp16").dtype == torch.bfloat16  # CPUs autocast to bf16 only
    assert placement("cpu", "fp16").scaler is None


def test_micro_batches_accumulate_the_gradient_of_the_whole_batch() -> None:
    torch.manual_seed(0)
    model = create_model(MLPSpec(hidden=[16]), [8], 3)
    objective = Classification(3)
    x, y = torch.randn(32, 8), torch.randint(0, 3, (32,))
    grads = []
    losses = []
    for micro in (32, 8, 5):
        model.zero_grad()
        _, loss = ForwardBackward(model, objective, placement("cpu", "fp32"), Recorder(), micro_batch=micro)(
            x, y
        )
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
        losses.append(loss)
    for other in grads[1:]:
        for a, b in zip(grads[0], other, strict=True):
            assert torch.allclose(a, b, atol=1e-6)
    assert abs(losses[0] - losses[1]) < 1e-5


def test_bf16_autocast_trains_on_cpu() -> None:
    from deepfeat.config import Settings
    from deepfeat.data.builtins import load_builtin
    from deepfeat.train.job import train

    bf16, fp32 = Recorder(), Recorder()
    outcome = train(spec(precision="bf16"), load_builtin("digits"), bf16, Settings())
    train(spec(precision="fp32"), load_builtin("digits"), fp32, Settings())
    assert "bf16" in outcome.receipt["device"]
    assert bf16.epochs[-1]["val_accuracy"] > fp32.epochs[-1]["val_accuracy"] - 0.05
    assert bf16.epochs[-1]["loss"] < bf16.epochs[0]["loss"]
