"""`ForwardBackward`: a batch in micro-batches adds up to the batch's gradients, also when the last
micro-batch is smaller, and CUDA out-of-memory halves the micro-batch (a module on the CPU raises the
real `torch.cuda.OutOfMemoryError` above a batch size it "fits")."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from deepfeat.train.device import placement
from deepfeat.train.loop import ForwardBackward
from deepfeat.train.objectives import Regression
from tests.helpers.training import Recorder


class FitsOnly(nn.Module):
    """A linear layer that runs out of "CUDA memory" for more than `capacity` rows at once."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity
        self.linear = nn.Linear(5, 1)
        self.batch_sizes: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.batch_sizes.append(len(x))
        if len(x) > self.capacity:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated on the CPU)")
        out: torch.Tensor = self.linear(x)
        return out


def _gradients(
    model: nn.Module, micro_batch: int, x: torch.Tensor, y: torch.Tensor
) -> tuple[list[torch.Tensor], float, Recorder]:
    model.zero_grad(set_to_none=True)
    recorder = Recorder()
    backward = ForwardBackward(model, Regression(), placement("cpu", "fp32"), recorder, micro_batch)
    _, loss = backward(x, y)
    return [p.grad.clone() for p in model.parameters() if p.grad is not None], loss, recorder


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(10, 5, generator=generator), torch.randn(10, generator=generator)


def test_uneven_micro_batches_give_the_whole_batchs_gradients_and_loss() -> None:
    torch.manual_seed(0)
    model = FitsOnly(capacity=100)
    x, y = _batch()
    whole, whole_loss, _ = _gradients(model, 10, x, y)
    split, split_loss, _ = _gradients(model, 3, x, y)  # 3 + 3 + 3 + 1
    assert model.batch_sizes[-4:] == [3, 3, 3, 1]
    assert split_loss == pytest.approx(whole_loss, abs=1e-6)
    for a, b in zip(whole, split, strict=True):
        torch.testing.assert_close(a, b)


def test_out_of_memory_halves_the_micro_batch_and_keeps_the_batchs_gradients() -> None:
    torch.manual_seed(0)
    model = FitsOnly(capacity=3)
    x, y = _batch()
    reference = FitsOnly(capacity=100)
    reference.load_state_dict(model.state_dict())
    expected, expected_loss, _ = _gradients(reference, 10, x, y)
    got, loss, recorder = _gradients(model, 10, x, y)
    # 10 fails, 5 fails, 2 fits: 2+2+2+2+2.
    assert model.batch_sizes == [10, 5, 2, 2, 2, 2, 2]
    assert len(recorder.warnings) == 2
    assert "micro-batch halved to 2" in recorder.warnings[-1]
    assert loss == pytest.approx(expected_loss, abs=1e-6)
    for a, b in zip(expected, got, strict=True):
        torch.testing.assert_close(a, b)


def test_out_of_memory_at_micro_batch_one_is_raised() -> None:
    model = FitsOnly(capacity=0)
    x, y = _batch()
    with pytest.raises(torch.cuda.OutOfMemoryError):
        _gradients(model, 10, x, y)
    assert model.batch_sizes == [10, 5, 2, 1]
