"""The GAN loop: alternating discriminator and generator steps with the non-saturating loss.

Kept apart from `loop.fit` because a GAN has two optimizers and no targets, but it shares the rest:
the `Reporter`, the checkpoint snapshot/restore, the per-epoch timing metrics, the schedulers, L1/L2,
clipping, autocast and the `EarlyStopper`. Each step is the textbook one (PyTorch's DCGAN example, and
`tests/gan_reference.py`, which the tests hold it to): D on a real batch and on a detached fake batch of
the same size, then G through D on that fake batch. Every epoch ends with the generator in eval mode
drawing as many samples as the validation reference holds, scored by `Quality`; the best epoch by
`val_mmd` (or the `early_stopping` metric) is the one whose weights are kept and served.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from deepfeat.nn.gan import GAN
from deepfeat.specs.training import EarlyStoppingSpec, TrainingSpec
from deepfeat.train.checkpoint import CheckpointDir
from deepfeat.train.device import Placement, placement
from deepfeat.train.diagnostics import Diagnostics, gan_warnings, warnings_for
from deepfeat.train.gan_quality import Quality
from deepfeat.train.images import grid_png
from deepfeat.train.loop import (
    EarlyStopper,
    FitResult,
    Reporter,
    Tensors,
    epoch_scheduler_step,
    restore,
    snapshot,
    timing_metrics,
)
from deepfeat.train.optim import LRScheduler, build_optimizer, build_scheduler, penalised_weights, penalty
from deepfeat.train.setup import GAN_METRICS

SAMPLE_SEED = 0  # the same noise every epoch, so the quality curve and sample grids move only with G


class _Side:
    """One player: its parameters, optimizer, scheduler and the weights L1/L2 apply to."""

    def __init__(self, module: nn.Module, spec: TrainingSpec, steps_per_epoch: int) -> None:
        self.module = module
        self.params = [p for p in module.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(self.params, spec.optimizer)
        self.scheduler: LRScheduler | None
        self.scheduler, self.per_step = build_scheduler(
            self.optimizer, spec.scheduler, spec.epochs, steps_per_epoch
        )
        self.weights = penalised_weights(module)

    def step(self, loss: torch.Tensor, spec: TrainingSpec, place: Placement) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        extra = penalty(self.weights, spec.l1, spec.l2)
        total = loss if extra is None else loss + extra
        place.backward(total)
        place.unscale(self.optimizer)  # clip true gradients
        if spec.grad_clip_norm:
            nn.utils.clip_grad_norm_(self.params, spec.grad_clip_norm)
        place.step(self.optimizer, update=False)  # one scaler, both optimizers; updated once per batch
        if self.scheduler is not None and self.per_step:
            self.scheduler.step()


class _Discriminator(nn.Module):
    """D alone, so diagnostics name its layers `disc_features.<i>` and probe it on validation data."""

    def __init__(self, gan: GAN) -> None:
        super().__init__()
        self.disc_features, self.disc_head, self.gan = gan.disc_features, gan.disc_head, [gan]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.disc_head(self.disc_features(self.gan[0].scale(x)))
        return out


class _Generator(nn.Module):
    """G alone, from noise (already joined with a label embedding) to samples: `generator.<i>`."""

    def __init__(self, gan: GAN) -> None:
        super().__init__()
        self.generator = gan.generator

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.generator(z)
        return out


def _labels(data: Tensors, idx: torch.Tensor | slice, model: GAN) -> torch.Tensor | None:
    return data.y[idx].long() if model.n_classes else None


def fit_gan(
    model: GAN,
    train: Tensors,
    val: Tensors,
    spec: TrainingSpec,
    reporter: Reporter,
    checkpoints: CheckpointDir | None = None,
    place: Placement | None = None,
) -> FitResult:
    """Train `model` on `train`, scoring and choosing epochs on `val`; ends on the best epoch's weights."""
    place = place or placement("cpu", spec.precision)
    generator = torch.Generator().manual_seed(spec.seed)
    batch = min(spec.batch_size, len(train))
    steps = math.ceil(len(train) / batch)
    g_modules = [model.generator, model.label_embedding]  # G's label embedding learns with G
    g_side = _Side(nn.ModuleList([m for m in g_modules if m is not None]), spec, steps)
    d_modules = [model.disc_features, model.disc_head, model.disc_projection]
    d_side = _Side(nn.ModuleList([m for m in d_modules if m is not None]), spec, steps)
    stopping = spec.early_stopping or EarlyStoppingSpec(metric="val_mmd", patience=spec.epochs)
    stopper = EarlyStopper(stopping)  # without early_stopping: only keeps the best epoch's weights
    quality = Quality(val.x, model.image)
    sample_labels = _labels(val, slice(0, quality.n), model)
    diagnostics = (
        (Diagnostics(_Discriminator(model), val.x[:256]), Diagnostics(_Generator(model), _noise(model, 256)))
        if spec.diagnostics
        else None
    )
    result, step, first_epoch = FitResult(), 0, 1
    latest = checkpoints.latest() if checkpoints else None
    if latest is not None:
        step = restore(latest, model, g_side.optimizer, g_side.scheduler, generator, stopper, result)
        d_side.optimizer.load_state_dict(latest.state["d_optimizer"])
        if d_side.scheduler is not None and latest.state["d_scheduler"] is not None:
            d_side.scheduler.load_state_dict(latest.state["d_scheduler"])
        result.best_epoch, first_epoch = latest.state["best_epoch"], latest.epoch + 1

    for epoch in range(first_epoch, spec.epochs + 1):
        started = time.perf_counter()
        model.train()
        sums = dict.fromkeys(GAN_METRICS, 0.0)
        health: dict[str, float] = {}
        batches = torch.randperm(len(train), generator=generator).split(batch)
        for i, idx in enumerate(batches):
            real = model.scale(train.x[idx])
            labels = _labels(train, idx, model)
            n = real.shape[0]  # the last batch may be smaller: targets are sized per batch
            ones = torch.ones(n, device=real.device)
            zeros = torch.zeros(n, device=real.device)
            d_probe, g_probe = diagnostics if diagnostics and i == len(batches) - 1 else (None, None)
            with place.autocast():
                fake = model.generate_scaled(n, labels=labels)
                d_real = model.discriminate(real, labels).float()
                d_fake = model.discriminate(fake.detach(), labels).float()
                d_loss = F.binary_cross_entropy_with_logits(
                    d_real, ones
                ) + F.binary_cross_entropy_with_logits(d_fake, zeros)
            health |= _diagnosed(d_probe, d_side, d_loss, spec, place)
            with place.autocast():
                # Non-saturating: G maximises log D(G(z)) rather than minimising log(1 - D(G(z))).
                g_loss = F.binary_cross_entropy_with_logits(model.discriminate(fake, labels).float(), ones)
            health |= _diagnosed(g_probe, g_side, g_loss, spec, place)
            place.update_scale()

            sums["d_loss"] += float(d_loss.detach())
            sums["g_loss"] += float(g_loss.detach())
            sums["d_real"] += float(torch.sigmoid(d_real.detach()).mean())
            sums["d_fake"] += float(torch.sigmoid(d_fake.detach()).mean())
            sums["d_accuracy"] += float(((d_real > 0).float().mean() + (d_fake < 0).float().mean()) / 2)
            step += 1
            if reporter.should_stop():
                result.stopped = "cancelled"
                return result
        elapsed = time.perf_counter() - started
        metrics = {k: v / len(batches) for k, v in sums.items()}
        metrics |= timing_metrics(g_side.optimizer, elapsed, len(train))
        if not math.isfinite(metrics["d_loss"]) or not math.isfinite(metrics["g_loss"]):
            raise FloatingPointError(f"GAN losses diverged at epoch {epoch}: {metrics}")
        metrics |= quality.measure(sample(model, quality.n, sample_labels))
        for side in (g_side, d_side):
            if side.scheduler is not None and not side.per_step:
                epoch_scheduler_step(side.scheduler, metrics[stopping.metric])
        reporter.epoch_end(epoch, step, metrics | health)
        for warning in warnings_for(health) + gan_warnings(metrics):
            reporter.warn(warning.message, {"epoch": epoch, "layer": warning.layer, "value": warning.value})
        if model.image:  # images: show what G makes, from the same noise every epoch
            classes = torch.arange(64) % model.n_classes if model.n_classes else None  # each class in turn
            grid = grid_png(sample(model, 64, classes))
            reporter.artifact(f"samples/epoch-{epoch:04d}.png", grid, "image/png")
        result.epochs_run = epoch
        if stopper.update(metrics, model):
            result.best, result.best_epoch = metrics, epoch
        elif stopper.exhausted:
            result.stopped = "early_stopping"
            break
        if checkpoints is not None:
            state = snapshot(g_side.optimizer, g_side.scheduler, generator, stopper, result, step)
            state |= _d_state(d_side) | {"best_epoch": result.best_epoch}
            checkpoints.save(epoch, model.state_dict(), state)

    if stopper.best_state is not None:
        model.load_state_dict(stopper.best_state)  # serve the best epoch's generator, not the last
    return result


def _d_state(side: _Side) -> dict[str, Any]:
    scheduler = side.scheduler.state_dict() if side.scheduler is not None else None
    return {"d_optimizer": side.optimizer.state_dict(), "d_scheduler": scheduler}


def _diagnosed(
    diagnostics: Diagnostics | None, side: _Side, loss: torch.Tensor, spec: TrainingSpec, place: Placement
) -> dict[str, float]:
    """One player's step; with `diagnostics` (the epoch's last batch) its layer health around it."""
    if diagnostics is None:
        side.step(loss, spec, place)
        return {}
    before = side.step  # gradients exist only inside `step`, so measure there through a hook
    found: dict[str, float] = {}

    def measured_step() -> None:
        found.update(diagnostics.before_step())

    hook = side.optimizer.register_step_pre_hook(lambda *_: measured_step())
    try:
        before(loss, spec, place)
    finally:
        hook.remove()
    return found | diagnostics.after_step() | diagnostics.units()


def _noise(model: GAN, n: int) -> torch.Tensor:
    """A fixed generator probe (noise, plus class 0's embedding for a conditional GAN)."""
    z = torch.randn(n, model.latent_dim, generator=torch.Generator().manual_seed(SAMPLE_SEED))
    z = z.to(model.disc_head.weight.device)
    if model.label_embedding is not None:
        with torch.no_grad():
            labels = torch.zeros(n, dtype=torch.long, device=z.device)
            z = torch.cat([z, model.label_embedding(labels)], dim=1)
    return z


@torch.no_grad()
def sample(model: GAN, n: int, labels: torch.Tensor | None = None) -> torch.Tensor:
    """`n` samples in data units from fixed noise, in eval mode (batch-norm running statistics, as
    served); the training mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        return model.generate(n, torch.Generator().manual_seed(SAMPLE_SEED), labels).float()
    finally:
        model.train(was_training)
