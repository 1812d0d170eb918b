"""From a run spec and a dataset's schema to a model and an objective, checking they fit together.

Only the schema is needed, so `POST /v1/runs:validate` answers without loading the data.
"""

from __future__ import annotations

from dataclasses import dataclass

from deepfeat.config import Settings
from deepfeat.data.schema import DatasetSchema
from deepfeat.encoders.catalogue import build_context
from deepfeat.errors import SpecError
from deepfeat.nn import BuildContext, DeepfeatModel, create_model
from deepfeat.nn.inspect import BYTES_PER_FLOAT, ModelReport, StepCost, inspect_model
from deepfeat.nn.registry import families_for
from deepfeat.specs.runs import RunSpec
from deepfeat.specs.training import TrainingSpec
from deepfeat.train.objectives import Classification, Objective, Reconstruction, Regression

EPOCH_METRICS = ("lr", "epoch_time", "samples_per_s")
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("loss", "accuracy", "f1"),
    "regression": ("loss", "mae", "r2"),
    "autoencoder": ("loss",),
}
GAN_METRICS = ("d_loss", "g_loss", "d_real", "d_fake", "d_accuracy")
# Sample quality against the validation split, every epoch (deepfeat/train/gan_quality.py).
GAN_QUALITY = ("val_mmd", "val_w1", "sample_diversity")
# Spec lists whose length counts as layers against `max_layers`.
_LAYER_LISTS = ("hidden", "channels", "layers", "decoder")


@dataclass(frozen=True)
class Setup:
    model: DeepfeatModel
    objective: Objective
    input_shape: list[int]
    report: ModelReport


class GANObjective(Objective):
    """Placeholder for the adversarial task: the GAN loop computes its own losses. `output_dim` is the
    number of classes a conditional GAN is conditioned on (1 otherwise)."""

    task = "gan"

    def __init__(self, output_dim: int = 1) -> None:
        self.output_dim = output_dim


def metric_names(task: str) -> list[str]:
    if task == "gan":
        return [*GAN_METRICS, *GAN_QUALITY, *EPOCH_METRICS]
    base = TASK_METRICS[task]
    return [*base, *(f"val_{m}" for m in base), *EPOCH_METRICS]


def objective_for(spec: RunSpec, schema: DatasetSchema) -> Objective:
    task, target_type = spec.task, schema.target_type
    if task == "autoencoder":
        return Reconstruction(getattr(spec.model, "loss", "mse"))
    if task == "gan":
        if not getattr(spec.model, "conditional", False):
            return GANObjective()
        if target_type != "categorical" or len(schema.class_list) < 2:
            raise SpecError(
                "/model/conditional",
                "a conditional GAN needs a dataset with a categorical target of ≥ 2 classes",
            )
        return GANObjective(schema.n_class_codes())
    if task == "classification":
        if target_type != "categorical" or len(schema.class_list) < 2:
            raise SpecError(
                "/task", "classification needs a dataset with a categorical target of ≥ 2 classes"
            )
        return Classification(n_classes=schema.n_class_codes())
    if target_type != "numeric":
        raise SpecError("/task", f"regression needs a numeric target; this dataset's target is {target_type}")
    return Regression()


def setup_run(
    spec: RunSpec, schema: DatasetSchema, settings: Settings, context: BuildContext | None = None
) -> Setup:
    """Build the model for `spec` on data described by `schema`, or raise a SpecError saying where.
    `context` resolves registered encoders (`transfer` from `name@version`) in the run's project."""
    _check_budgets(spec, settings)
    allowed_types = families_for(spec.task)
    if spec.model.type not in allowed_types:
        allowed = ", ".join(allowed_types)
        raise SpecError(
            "/model/type", f"task {spec.task} trains model types {allowed}, not {spec.model.type}"
        )
    objective = objective_for(spec, schema)
    # Strings are not a tensor: only an encoder-backed model (`transfer`, when it exists) reads text.
    if schema.modality == "text" and str(spec.model.type) != "transfer":
        raise SpecError(
            "/model/type", "a text dataset trains through a text encoder: use model type `transfer`"
        )
    input_shape = list(schema.input_shape)
    # Without a context (a script, a test): the catalogue backbones, no registered encoders.
    model = create_model(spec.model, input_shape, objective.output_dim, context or build_context())
    report = inspect_model(model, input_shape, spec.training.batch_size, step_cost(spec.training))
    if report.params > settings.max_params:
        raise SpecError(
            "/model", f"{report.params:,} parameters is over the limit of {settings.max_params:,}"
        )
    if report.memory_estimate > settings.max_memory_bytes:
        raise SpecError(
            "/training/batch_size",
            f"one step needs about {report.memory_estimate / 2**20:.0f} MiB, over the limit of "
            f"{settings.max_memory_bytes / 2**20:.0f} MiB: lower batch_size or the model's width",
        )
    return Setup(model, objective, input_shape, report)


def step_cost(training: TrainingSpec) -> StepCost:
    """Optimizer state per weight (SGD: a momentum buffer if any; RMSprop: square average, + momentum;
    Adam/AdamW: two moments) and the bytes of a kept activation (2 under bf16/fp16 autocast; `auto` is
    counted as fp32, the larger, since the machine that runs it is not known yet)."""
    optimizer = training.optimizer
    if optimizer.name == "sgd":
        states = 1 if optimizer.momentum else 0
    elif optimizer.name == "rmsprop":
        states = 1 + (1 if optimizer.momentum else 0)
    else:
        states = 2
    return StepCost(states, 2 if training.precision in ("bf16", "fp16") else BYTES_PER_FLOAT)


def _check_budgets(spec: RunSpec, settings: Settings) -> None:
    training = spec.training
    if training.epochs > settings.max_epochs:
        raise SpecError(
            "/training/epochs", f"{training.epochs} epochs is over the limit of {settings.max_epochs}"
        )
    if training.batch_size > settings.max_batch_size:
        raise SpecError(
            "/training/batch_size", f"{training.batch_size} is over the limit of {settings.max_batch_size}"
        )
    for field in _LAYER_LISTS:
        layers = getattr(spec.model, field, None) or []
        if len(layers) > settings.max_layers:
            raise SpecError(
                f"/model/{field}", f"{len(layers)} layers is over the limit of {settings.max_layers}"
            )
    stopping = training.early_stopping
    if stopping is not None and stopping.metric not in metric_names(spec.task):
        known = ", ".join(metric_names(spec.task))
        raise SpecError(
            "/training/early_stopping/metric",
            f"{stopping.metric!r} is not logged for {spec.task}; use one of {known}",
        )
