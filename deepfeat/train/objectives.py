"""What each task minimises and which metrics it reports (names are what the API and dashboard show)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F


@dataclass
class MetricSums:
    """Sums over batches, turned into means at the end of an epoch."""

    loss: float = 0.0
    abs_error: float = 0.0
    sq_error: float = 0.0
    target_sum: float = 0.0
    target_sq_sum: float = 0.0
    count: int = 0
    # classification: the epoch's confusion counts (true × predicted), added to in place each step. Not
    # the epoch's labels kept to count at its end: thousands of small tensors living through an epoch
    # fragmented the heap between the batches' buffers, and the worker grew by about the data's size.
    confusion: torch.Tensor | None = None


class Objective:
    task: str
    output_dim: int

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def accumulate(self, sums: MetricSums, output: torch.Tensor, target: torch.Tensor, loss: float) -> None:
        raise NotImplementedError

    def summarise(self, sums: MetricSums, prefix: str) -> dict[str, float]:
        raise NotImplementedError


class Classification(Objective):
    task = "classification"

    def __init__(self, n_classes: int) -> None:
        self.output_dim = n_classes

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(output, target)

    def accumulate(self, sums: MetricSums, output: torch.Tensor, target: torch.Tensor, loss: float) -> None:
        sums.loss += loss * target.shape[0]
        sums.count += target.shape[0]
        k = self.output_dim
        pairs = torch.bincount(target * k + output.argmax(dim=1), minlength=k * k)
        sums.confusion = pairs if sums.confusion is None else sums.confusion.add_(pairs)

    def summarise(self, sums: MetricSums, prefix: str) -> dict[str, float]:
        n = max(sums.count, 1)
        confusion = None
        if sums.confusion is not None:
            confusion = sums.confusion.reshape(self.output_dim, self.output_dim)
        correct = float(confusion.diag().sum()) if confusion is not None else 0.0
        return {
            f"{prefix}loss": sums.loss / n,
            f"{prefix}accuracy": correct / n,
            f"{prefix}f1": macro_f1(confusion),
        }


class Regression(Objective):
    task = "regression"
    output_dim = 1

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(output.squeeze(-1), target)

    def accumulate(self, sums: MetricSums, output: torch.Tensor, target: torch.Tensor, loss: float) -> None:
        error = output.squeeze(-1) - target
        sums.loss += loss * target.shape[0]
        sums.abs_error += float(error.abs().sum())
        sums.sq_error += float((error**2).sum())
        sums.target_sum += float(target.sum())
        sums.target_sq_sum += float((target**2).sum())
        sums.count += target.shape[0]

    def summarise(self, sums: MetricSums, prefix: str) -> dict[str, float]:
        n = max(sums.count, 1)
        variance = sums.target_sq_sum / n - (sums.target_sum / n) ** 2
        r2 = 1.0 - (sums.sq_error / n) / variance if variance > 0 else 0.0
        return {f"{prefix}loss": sums.loss / n, f"{prefix}mae": sums.abs_error / n, f"{prefix}r2": r2}


class Reconstruction(Objective):
    """Autoencoders: reconstruct the scaled input (`target` is `input_norm(x)`, see nn/autoencoder.py)."""

    task = "autoencoder"
    output_dim = 0  # the decoder's size comes from the input shape

    def __init__(self, loss: str = "mse") -> None:
        self.kind = loss

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.kind == "bce":
            return F.binary_cross_entropy_with_logits(output, target.clamp(0, 1))
        return F.mse_loss(output, target)

    def accumulate(self, sums: MetricSums, output: torch.Tensor, target: torch.Tensor, loss: float) -> None:
        sums.loss += loss * target.shape[0]
        sums.count += target.shape[0]

    def summarise(self, sums: MetricSums, prefix: str) -> dict[str, float]:
        return {f"{prefix}loss": sums.loss / max(sums.count, 1)}


def reconstruction_errors(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample mean squared reconstruction error: the anomaly score."""
    return ((output - target) ** 2).flatten(1).mean(dim=1)


def macro_f1(confusion: torch.Tensor | None) -> float:
    """Unweighted mean F1 over the classes present (in truth or in predictions)."""
    if confusion is None:
        return 0.0
    confusion = confusion.double()
    tp = confusion.diag()
    support, predicted = confusion.sum(dim=1), confusion.sum(dim=0)
    present = (support + predicted) > 0
    f1 = 2 * tp / (support + predicted).clamp(min=1)
    return float(f1[present].mean()) if present.any() else 0.0
