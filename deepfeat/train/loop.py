"""The training loop: one readable screen, in the spirit of nanoGPT's train.py.

Data is fed as pre-built tensors sliced per batch (faster than a per-sample DataLoader for in-memory
sets on our CPUs). The caller owns persistence: the `Reporter` records each epoch, and when a
`CheckpointDir` is given every epoch ends with a checkpoint the next attempt resumes from.

With `ranks` (world_size > 1, see train/ranks.py) every rank runs this same loop on its shard of each
global batch through DDP; rank 0 alone reports and checkpoints, and metrics are reduced across ranks.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from deepfeat.specs.training import EarlyStoppingSpec, TrainingSpec
from deepfeat.train.batches import Batches
from deepfeat.train.checkpoint import Checkpoint, CheckpointDir
from deepfeat.train.device import Placement, placement
from deepfeat.train.diagnostics import Diagnostics, warnings_for
from deepfeat.train.objectives import MetricSums, Objective
from deepfeat.train.optim import LRScheduler, build_optimizer, build_scheduler, penalised_weights, penalty
from deepfeat.train.ranks import SINGLE, Ranks


class Reporter(Protocol):
    def epoch_end(self, epoch: int, step: int, metrics: dict[str, float]) -> None: ...

    def warn(self, message: str, data: dict[str, Any]) -> None: ...

    def artifact(self, name: str, content: bytes, media_type: str) -> None: ...

    def should_stop(self) -> bool: ...


@dataclass(frozen=True)
class Tensors:
    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def take(self, idx: torch.Tensor | slice) -> tuple[torch.Tensor, torch.Tensor]:
        """The rows at `idx` (a `Batches` source, like `batches.MappedRows`)."""
        return self.x[idx], self.y[idx]


@dataclass
class FitResult:
    best: dict[str, float] = field(default_factory=dict)
    epochs_run: int = 0
    stopped: str = "completed"  # completed | early_stopping | cancelled
    resumed_from: int = 0  # the epoch of the checkpoint this attempt started from
    best_epoch: int = 0  # the epoch whose weights are kept (0: not tracked)


def fit(
    model: nn.Module,
    objective: Objective,
    train: Batches,
    val: Batches,
    spec: TrainingSpec,
    reporter: Reporter,
    checkpoints: CheckpointDir | None = None,
    place: Placement | None = None,
    ranks: Ranks = SINGLE,
) -> FitResult:
    place = place or placement("cpu", spec.precision)
    generator = torch.Generator().manual_seed(spec.seed)
    batch = min(spec.batch_size, len(train))
    steps_per_epoch = math.ceil(len(train) / batch)
    optimizer = build_optimizer([p for p in model.parameters() if p.requires_grad], spec.optimizer)
    scheduler, per_step = build_scheduler(optimizer, spec.scheduler, spec.epochs, steps_per_epoch)
    weights = penalised_weights(model)
    stopper = EarlyStopper(spec.early_stopping) if spec.early_stopping else None
    diagnostics = (
        Diagnostics(model, val.take(slice(0, 256))[0].to(place.device))
        if spec.diagnostics and ranks.is_main
        else None
    )
    result, step, first_epoch = FitResult(), 0, 1
    latest = checkpoints.latest() if checkpoints else None
    if latest is not None:
        step = restore(latest, model, optimizer, scheduler, generator, stopper, result)
        first_epoch = latest.epoch + 1
    if not ranks.start(reporter.should_stop):  # every rank built and resumed (one process: no-op)
        result.stopped = "cancelled"
        return result
    net = ranks.wrap(model)  # DDP across ranks (averages gradients in backward), else the model itself
    backward = ForwardBackward(net, objective, place, reporter, micro_batch=batch)

    for epoch in range(first_epoch, spec.epochs + 1):
        started = time.perf_counter()
        model.train()
        sums, health = MetricSums(), dict[str, float]()
        batches = torch.randperm(len(train), generator=generator).split(batch)
        for i, idx in enumerate(batches):
            idx, weight = ranks.shard(idx)  # this rank's part of the global batch
            x, y = (t.to(place.device, non_blocking=True) for t in train.take(idx))
            optimizer.zero_grad(set_to_none=True)
            output, loss = backward(x, y, weight)
            extra = penalty(weights, spec.l1, spec.l2)
            if extra is not None:  # scaled like the loss: unscaling divides every gradient by the scale
                place.backward(extra)
            place.unscale(optimizer)  # clip and measure true gradients
            probe = diagnostics if i == len(batches) - 1 else None  # once per epoch, on its last step
            if probe is not None:
                health = probe.before_step()  # before clipping, or "exploding" could never show
            if spec.grad_clip_norm:
                nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip_norm)
            place.step(optimizer)
            if probe is not None:
                health |= probe.after_step() | probe.units()
            if scheduler is not None and per_step:
                scheduler.step()
            if weight:
                objective.accumulate(sums, output, y, loss)
            step += 1
            if ranks.agree_to_stop(reporter.should_stop):  # rank 0 decides, all ranks stop this step
                result.stopped = "cancelled"
                return result

        elapsed = time.perf_counter() - started
        val_metrics = evaluate(model, objective, val, batch, place, ranks)
        metrics = objective.summarise(ranks.reduce(sums), "") | val_metrics
        metrics |= timing_metrics(optimizer, elapsed, len(train))
        if scheduler is not None and not per_step:
            epoch_scheduler_step(scheduler, metrics["val_loss"])
        reporter.epoch_end(epoch, step, metrics | health)
        for warning in warnings_for(health):
            reporter.warn(warning.message, {"epoch": epoch, "layer": warning.layer, "value": warning.value})
        result.epochs_run = epoch
        if stopper is None or stopper.update(metrics, model):
            result.best = metrics
        elif stopper.exhausted:
            result.stopped = "early_stopping"
            break
        if checkpoints is not None and ranks.is_main:
            checkpoints.save(
                epoch, model.state_dict(), snapshot(optimizer, scheduler, generator, stopper, result, step)
            )

    if stopper is not None and stopper.best_state is not None:
        model.load_state_dict(stopper.best_state)  # end on the best epoch's weights, not the last
    return result


@torch.no_grad()
def evaluate(
    model: nn.Module,
    objective: Objective,
    data: Batches,
    batch: int,
    place: Placement | None = None,
    ranks: Ranks = SINGLE,
) -> dict[str, float]:
    """Metrics over `data`; across ranks each scores its contiguous part and the sums are reduced."""
    place = place or placement("cpu", "fp32")
    ranks.sync_buffers(model)
    model.eval()
    sums = MetricSums()
    mine = ranks.part(len(data))
    for start in range(mine.start, mine.stop, batch):
        end = min(start + batch, mine.stop)
        x, y = (t.to(place.device, non_blocking=True) for t in data.take(slice(start, end)))
        with place.autocast():
            output = model(x)
            loss = objective.loss(output, y)
        objective.accumulate(sums, output.float(), y, float(loss))
    return objective.summarise(ranks.reduce(sums), "val_")


def timing_metrics(optimizer: torch.optim.Optimizer, elapsed: float, samples: int) -> dict[str, float]:
    """The per-epoch metrics every task logs: learning rate, epoch time, throughput."""
    return {
        "lr": optimizer.param_groups[0]["lr"],
        "epoch_time": elapsed,
        "samples_per_s": samples / elapsed if elapsed > 0 else 0.0,
    }


def epoch_scheduler_step(scheduler: LRScheduler, monitored: float) -> None:
    """An epoch-wise scheduler's step; `plateau` watches `monitored` (lower is better)."""
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(monitored)
    else:
        scheduler.step()


class ForwardBackward:
    """Forward and backward of one batch, in micro-batches whose gradients add up to the batch's.

    The micro-batch starts as the whole batch and halves on CUDA out-of-memory (with a warning event),
    so a run that does not fit keeps its effective batch size instead of failing.
    """

    def __init__(
        self, model: nn.Module, objective: Objective, place: Placement, reporter: Reporter, micro_batch: int
    ) -> None:
        self.model, self.objective, self.place, self.reporter = model, objective, place, reporter
        self.micro_batch = micro_batch

    def __call__(self, x: torch.Tensor, y: torch.Tensor, weight: float = 1.0) -> tuple[torch.Tensor, float]:
        """The batch's outputs (detached, fp32) and mean loss; the gradients of `weight` × that loss are
        left in the parameters (a rank's share of a global batch, see Ranks.shard)."""
        while True:
            try:
                return self._run(x, y, weight)
            except torch.cuda.OutOfMemoryError:
                if self.micro_batch == 1:
                    raise
                self.model.zero_grad(set_to_none=True)
                torch.cuda.empty_cache()
                self.micro_batch //= 2
                self.reporter.warn(
                    f"CUDA out of memory: micro-batch halved to {self.micro_batch}; "
                    f"gradients are accumulated to keep the batch of {len(x)}",
                    {"micro_batch": self.micro_batch},
                )

    def _run(self, x: torch.Tensor, y: torch.Tensor, weight: float) -> tuple[torch.Tensor, float]:
        if self.micro_batch >= len(x):  # the usual case: one forward, nothing to split or rescale
            with self.place.autocast():
                output = self.model(x)
                loss = self.objective.loss(output, y)
            self._backward(loss, weight)
            return output.detach().float(), float(loss.detach())
        outputs, total = [], 0.0
        for xs, ys in zip(x.split(self.micro_batch), y.split(self.micro_batch), strict=True):
            with self.place.autocast():
                output = self.model(xs)
                loss = self.objective.loss(output, ys) * (len(xs) / len(x))  # a share of the batch mean
            self._backward(loss, weight)
            outputs.append(output.detach().float())
            total += float(loss.detach())
        return torch.cat(outputs) if len(outputs) > 1 else outputs[0], total

    def _backward(self, loss: torch.Tensor, weight: float) -> None:
        scaled = loss * weight if weight != 1.0 else loss
        self.place.backward(scaled)


def snapshot(
    optimizer: torch.optim.Optimizer,
    scheduler: LRScheduler | None,
    generator: torch.Generator,
    stopper: EarlyStopper | None,
    result: FitResult,
    step: int,
) -> dict[str, Any]:
    """Everything besides the weights that the next epoch depends on."""
    return {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "torch_rng": torch.get_rng_state(),
        "data_rng": generator.get_state(),
        "step": step,
        "best": result.best,
        "stopper": stopper.state() if stopper is not None else None,
    }


def restore(
    checkpoint: Checkpoint,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: LRScheduler | None,
    generator: torch.Generator,
    stopper: EarlyStopper | None,
    result: FitResult,
) -> int:
    """Load `checkpoint` into the live objects; returns the global step it was taken at."""
    state = checkpoint.state
    model.load_state_dict(checkpoint.model)
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    generator.set_state(state["data_rng"])
    if stopper is not None and state["stopper"] is not None:
        stopper.load(state["stopper"])
    result.best, result.epochs_run, result.resumed_from = state["best"], checkpoint.epoch, checkpoint.epoch
    step: int = state["step"]
    return step


class EarlyStopper:
    LOWER_IS_BETTER = ("loss", "mmd", "w1")  # `auto` mode minimises metrics named with these

    def __init__(self, spec: EarlyStoppingSpec) -> None:
        self.spec = spec
        lower_is_better = any(word in spec.metric for word in self.LOWER_IS_BETTER)
        minimise = spec.mode == "min" or (spec.mode == "auto" and lower_is_better)
        self.sign = 1.0 if minimise else -1.0
        self.best = math.inf
        self.bad_epochs = 0
        self.best_state: dict[str, torch.Tensor] | None = None

    def update(self, metrics: dict[str, float], model: nn.Module) -> bool:
        """Record this epoch; True when it is the best so far."""
        value = self.sign * metrics[self.spec.metric]
        if value < self.best - self.spec.min_delta:
            self.best, self.bad_epochs = value, 0
            self.best_state = copy.deepcopy(model.state_dict())
            return True
        self.bad_epochs += 1
        return False

    @property
    def exhausted(self) -> bool:
        return self.bad_epochs >= self.spec.patience

    def state(self) -> dict[str, Any]:
        return {"best": self.best, "bad_epochs": self.bad_epochs, "best_state": self.best_state}

    def load(self, state: dict[str, Any]) -> None:
        self.best, self.bad_epochs, self.best_state = state["best"], state["bad_epochs"], state["best_state"]
