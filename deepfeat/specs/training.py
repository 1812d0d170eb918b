"""How to train: optimizer, regularisation, schedule, stopping."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from deepfeat.specs.base import SpecModel


class SGDSpec(SpecModel):
    name: Literal["sgd"] = "sgd"
    lr: float = Field(default=0.01, gt=0, le=10)
    momentum: float = Field(default=0.0, ge=0, lt=1)
    nesterov: bool = False


class AdamSpec(SpecModel):
    name: Literal["adam", "adamw"] = "adam"
    lr: float = Field(default=1e-3, gt=0, le=10)
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = (0.9, 0.999)
    weight_decay: float = Field(default=0.0, ge=0)


class RMSpropSpec(SpecModel):
    name: Literal["rmsprop"] = "rmsprop"
    lr: float = Field(default=1e-3, gt=0, le=10)
    alpha: float = Field(default=0.99, gt=0, lt=1)
    momentum: float = Field(default=0.0, ge=0, lt=1)


OptimizerSpec = Annotated[SGDSpec | AdamSpec | RMSpropSpec, Field(discriminator="name")]


class SchedulerSpec(SpecModel):
    name: Literal["step", "cosine", "plateau", "onecycle"]
    step_size: int = Field(default=10, ge=1, description="step: epochs between decays")
    gamma: float = Field(default=0.1, gt=0, le=1, description="step/plateau: decay factor")
    patience: int = Field(default=2, ge=0, description="plateau: epochs without improvement")
    max_lr: float | None = Field(default=None, gt=0, description="onecycle: peak lr (default 10x lr)")


class EarlyStoppingSpec(SpecModel):
    metric: str = "val_loss"
    patience: int = Field(default=5, ge=1)
    mode: Literal["min", "max", "auto"] = "auto"
    min_delta: float = Field(default=0.0, ge=0)


class TrainingSpec(SpecModel):
    epochs: int = Field(default=10, ge=1)
    batch_size: int = Field(default=64, ge=1)
    optimizer: OptimizerSpec = Field(default_factory=AdamSpec)
    l1: float = Field(default=0.0, ge=0, description="L1 penalty added to the loss")
    l2: float = Field(default=0.0, ge=0, description="L2 penalty (λ/2·‖w‖²) added to the loss")
    scheduler: SchedulerSpec | None = None
    early_stopping: EarlyStoppingSpec | None = None
    grad_clip_norm: float | None = Field(default=None, gt=0)
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    val_fraction: float = Field(default=0.2, gt=0, lt=1)
    test_fraction: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description="held out from training and early stopping; scored once at the end",
    )
    device: Literal["cpu", "gpu", "auto"] = "cpu"
    world_size: int = Field(
        default=1,
        ge=1,
        le=64,
        description="data-parallel processes (DDP): one per GPU on `gpu`, gloo processes on `cpu`; "
        "batch_size is the global batch, split across them",
    )
    precision: Literal["fp32", "bf16", "fp16", "auto"] = Field(
        default="fp32", description="autocast precision; `auto` picks bf16/fp16 where the hardware has it"
    )
    diagnostics: bool = Field(
        default=True,
        description="per-layer gradient/weight/update norms and dead/saturated units, once per epoch",
    )

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> TrainingSpec:
        if self.val_fraction + self.test_fraction >= 1:
            raise ValueError(
                "val_fraction + test_fraction must stay below 1 (something must be left to train on)"
            )
        return self
