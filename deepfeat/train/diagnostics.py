"""Learning health: is a deep network actually learning, layer by layer?

Once per epoch, on the epoch's last step, it records for every weighted layer the gradient norm, the
weight norm and the update/weight ratio (how far that step moved the weights), and on a fixed probe
batch the fraction of dead ReLU units (zero for every probe sample) and of saturated sigmoid/tanh units.
Doing it once per epoch keeps the cost out of the hot loop. Problems become warnings the user sees.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

VANISHING, EXPLODING = 1e-7, 1e3
DEAD_WARN, SATURATED_WARN = 0.5, 0.5
_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.RNNBase)
_RECTIFIERS = (nn.ReLU, nn.LeakyReLU)


@dataclass(frozen=True)
class HealthWarning:
    message: str
    layer: str
    value: float


class Diagnostics:
    def __init__(self, model: nn.Module, probe: torch.Tensor) -> None:
        self.model = model
        self.probe = probe
        self.layers = {name: m for name, m in model.named_modules() if isinstance(m, _WEIGHTED)}
        self.activations = {
            name: m for name, m in model.named_modules() if isinstance(m, (*_RECTIFIERS, nn.Sigmoid, nn.Tanh))
        }
        self._before: dict[str, torch.Tensor] = {}

    def _weights(self, layer: nn.Module) -> list[torch.Tensor]:
        return [p for name, p in layer.named_parameters(recurse=False) if "weight" in name]

    @torch.no_grad()
    def before_step(self) -> dict[str, float]:
        """Call after backward, before optimizer.step: gradient and weight norms, and a copy to diff."""
        metrics = {}
        for name, layer in self.layers.items():
            weights = self._weights(layer)
            grads = [w.grad for w in weights if w.grad is not None]
            if grads:
                metrics[f"grad_norm/{name}"] = float(
                    torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))
                )
            metrics[f"weight_norm/{name}"] = float(
                torch.linalg.vector_norm(torch.stack([w.norm() for w in weights]))
            )
            self._before[name] = torch.cat([w.detach().flatten() for w in weights]).clone()
        return metrics

    @torch.no_grad()
    def after_step(self) -> dict[str, float]:
        metrics = {}
        for name, layer in self.layers.items():
            now = torch.cat([w.detach().flatten() for w in self._weights(layer)])
            metrics[f"update_ratio/{name}"] = float((now - self._before[name]).norm() / (now.norm() + 1e-12))
        self._before.clear()
        return metrics

    @torch.no_grad()
    def units(self) -> dict[str, float]:
        """Dead and saturated unit fractions on the probe batch (eval mode, no side effects)."""
        outputs: dict[str, torch.Tensor] = {}
        hooks = [
            m.register_forward_hook(lambda _m, _i, out, n=name: outputs.__setitem__(n, out))
            for name, m in self.activations.items()
        ]
        was_training = self.model.training
        self.model.eval()
        try:
            self.model(self.probe)
        finally:
            for hook in hooks:
                hook.remove()
            self.model.train(was_training)
        metrics = {}
        for name, out in outputs.items():
            module = self.activations[name]
            units = out.flatten(1) if out.dim() > 1 else out.unsqueeze(1)
            if isinstance(module, _RECTIFIERS):
                metrics[f"dead_relu/{name}"] = float((units <= 0).all(dim=0).float().mean())
            elif isinstance(module, nn.Tanh):
                metrics[f"saturated/{name}"] = float((units.abs() > 0.99).float().mean())
            else:
                metrics[f"saturated/{name}"] = float(((units < 0.01) | (units > 0.99)).float().mean())
        return metrics


def warnings_for(metrics: dict[str, float]) -> list[HealthWarning]:
    """Human-readable problems in one epoch's diagnostics."""
    found = []
    for key, value in metrics.items():
        kind, _, layer = key.partition("/")
        if kind == "grad_norm" and value < VANISHING:
            found.append(
                HealthWarning(f"vanishing gradients in {layer}: grad norm {value:.1e}", layer, value)
            )
        elif kind == "grad_norm" and value > EXPLODING:
            found.append(
                HealthWarning(f"exploding gradients in {layer}: grad norm {value:.1e}", layer, value)
            )
        elif kind == "dead_relu" and value > DEAD_WARN:
            found.append(
                HealthWarning(
                    f"{value:.0%} of ReLU units in {layer} are dead (zero for every input)", layer, value
                )
            )
        elif kind == "saturated" and value > SATURATED_WARN:
            found.append(HealthWarning(f"{value:.0%} of units in {layer} are saturated", layer, value))
    return found


# GAN health, from one epoch's metrics (deepfeat/train/gan.py): the failures a loss curve hides.
COLLAPSE_DIVERSITY = 0.25  # samples spread less than a quarter as widely as the data: mode collapse
D_PINNED = 0.99  # the discriminator tells every real from every fake: G gets no useful gradient
LOSS_EXPLODING = 10.0  # a BCE this high means D's logits are ~±10: one side has run away


def gan_warnings(metrics: dict[str, float]) -> list[HealthWarning]:
    """Mode collapse, a discriminator pinned at accuracy 1 and exploding D/G losses, as warnings."""
    found = []
    diversity = metrics.get("sample_diversity")
    if diversity is not None and diversity < COLLAPSE_DIVERSITY:
        found.append(
            HealthWarning(
                f"mode collapse: samples spread {diversity:.0%} as widely as the validation data",
                "generator",
                diversity,
            )
        )
    accuracy = metrics.get("d_accuracy")
    if accuracy is not None and accuracy >= D_PINNED:
        found.append(
            HealthWarning(
                f"discriminator accuracy pinned at {accuracy:.3f}: the generator's gradients vanish",
                "discriminator",
                accuracy,
            )
        )
    for name, layer in (("d_loss", "discriminator"), ("g_loss", "generator")):
        value = metrics.get(name)
        if value is not None and value > LOSS_EXPLODING:
            found.append(HealthWarning(f"{name} exploding: {value:.1f}", layer, value))
    return found
