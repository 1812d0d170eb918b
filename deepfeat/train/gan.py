"""The GAN loop: alternating discriminator and generator steps with the non-saturating loss.

Kept apart from `loop.fit` because a GAN has two optimizers and no targets; it reports through the
same `Reporter`, so the worker, metrics and events treat it like any other run.
"""

from __future__ import annotations

import math
import time

import torch
from torch.nn import functional as F

from deepfeat.nn.gan import GAN
from deepfeat.specs.training import TrainingSpec
from deepfeat.train.checkpoint import CheckpointDir
from deepfeat.train.images import grid_png
from deepfeat.train.loop import FitResult, Reporter
from deepfeat.train.optim import build_optimizer
from deepfeat.train.setup import GAN_METRICS


def fit_gan(
    model: GAN,
    x: torch.Tensor,
    spec: TrainingSpec,
    reporter: Reporter,
    checkpoints: CheckpointDir | None = None,
) -> FitResult:
    generator = torch.Generator().manual_seed(spec.seed)
    batch = min(spec.batch_size, len(x))
    g_opt = build_optimizer(list(model.generator.parameters()), spec.optimizer)
    d_params = [*model.disc_features.parameters(), *model.disc_head.parameters()]
    d_opt = build_optimizer(d_params, spec.optimizer)
    result, step, first_epoch = FitResult(), 0, 1
    device = next(model.parameters()).device
    ones, zeros = torch.ones(batch, device=device), torch.zeros(batch, device=device)
    latest = checkpoints.latest() if checkpoints else None
    if latest is not None:
        model.load_state_dict(latest.model)
        g_opt.load_state_dict(latest.state["g_opt"])
        d_opt.load_state_dict(latest.state["d_opt"])
        torch.set_rng_state(latest.state["torch_rng"])
        generator.set_state(latest.state["data_rng"])
        step, first_epoch = latest.state["step"], latest.epoch + 1
        result.best, result.epochs_run, result.resumed_from = latest.state["best"], latest.epoch, latest.epoch

    for epoch in range(first_epoch, spec.epochs + 1):
        started = time.perf_counter()
        model.train()
        sums = dict.fromkeys(GAN_METRICS, 0.0)
        batches = 0
        for idx in torch.randperm(len(x), generator=generator).split(batch):
            real = model.scale(x[idx])
            n = real.shape[0]
            fake = model.generate_scaled(n)

            d_real, d_fake = model.discriminate(real), model.discriminate(fake.detach())
            d_loss = F.binary_cross_entropy_with_logits(
                d_real, ones[:n]
            ) + F.binary_cross_entropy_with_logits(d_fake, zeros[:n])
            d_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            d_opt.step()

            # Non-saturating: the generator maximises log D(G(z)) rather than minimising log(1 - D(G(z))).
            g_loss = F.binary_cross_entropy_with_logits(model.discriminate(fake), ones[:n])
            g_opt.zero_grad(set_to_none=True)
            g_loss.backward()
            g_opt.step()

            sums["d_loss"] += float(d_loss.detach())
            sums["g_loss"] += float(g_loss.detach())
            sums["d_real"] += float(torch.sigmoid(d_real.detach()).mean())
            sums["d_fake"] += float(torch.sigmoid(d_fake.detach()).mean())
            batches += 1
            step += 1
            if reporter.should_stop():
                result.stopped = "cancelled"
                return result
        elapsed = time.perf_counter() - started
        metrics = {k: v / batches for k, v in sums.items()}
        metrics |= {
            "lr": g_opt.param_groups[0]["lr"],
            "epoch_time": elapsed,
            "samples_per_s": len(x) / elapsed if elapsed > 0 else 0.0,
        }
        if not all(math.isfinite(v) for v in metrics.values()):
            raise FloatingPointError(f"GAN losses diverged at epoch {epoch}: {metrics}")
        reporter.epoch_end(epoch, step, metrics)
        if len(model.input_shape) == 3 and model.input_shape[0] in (1, 3):  # images: show what G makes
            model.eval()
            with torch.no_grad():
                grid = grid_png(
                    model.generate(64, torch.Generator().manual_seed(0))
                )  # same noise every epoch
            reporter.artifact(f"samples/epoch-{epoch:04d}.png", grid, "image/png")
        result.epochs_run, result.best = epoch, metrics
        if checkpoints is not None:
            state = {
                "g_opt": g_opt.state_dict(),
                "d_opt": d_opt.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "data_rng": generator.get_state(),
                "step": step,
                "best": metrics,
            }
            checkpoints.save(epoch, model.state_dict(), state)
    return result
