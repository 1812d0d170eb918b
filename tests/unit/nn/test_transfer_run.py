"""`transfer` from a registered encoder: blocks found by running the network, freezing by them, a
private copy of the source, and refusals that name the field."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load

from deepfeat.config import Settings
from deepfeat.data.arrays import ArrayDataset
from deepfeat.data.builtins import load_builtin
from deepfeat.data.schema import DatasetSchema
from deepfeat.errors import SpecError
from deepfeat.nn import BuildContext, DeepfeatModel, SourceEncoder
from deepfeat.nn.transfer_run import RunTransfer
from deepfeat.specs.runs import RunSpec
from deepfeat.train.job import train
from deepfeat.train.setup import setup_run

DIGITS = load_builtin("digits")


class Quiet:
    def epoch_end(self, *args: Any) -> None: ...
    def warn(self, *args: Any) -> None: ...
    def should_stop(self) -> bool:
        return False


def spec(model: dict[str, Any], epochs: int = 1, seed: int = 0) -> RunSpec:
    return RunSpec.model_validate(
        {
            "dataset": "builtin:digits",
            "task": "classification",
            "model": model,
            "training": {"epochs": epochs, "seed": seed, "optimizer": {"name": "adam", "lr": 0.01}},
        }
    )


def source_mlp(**options: Any) -> DeepfeatModel:
    mlp = {"type": "mlp", "hidden": [64, 32, 16], **options}
    return setup_run(spec(mlp), DIGITS.schema, Settings()).model.eval()


def context(model: DeepfeatModel, layer: str | None = None, shape: list[int] | None = None) -> BuildContext:
    source = SourceEncoder("digits@1", model, shape or [1, 8, 8], layer)
    return BuildContext(resolve_encoder=lambda ref: source)


def build(model: dict[str, Any], ctx: BuildContext) -> RunTransfer:
    built = setup_run(
        spec({"type": "transfer", "encoder": "digits@1", **model}), DIGITS.schema, Settings(), ctx
    )
    assert isinstance(built.model, RunTransfer)
    return built.model


def trainable(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_unfreeze_last_k_leaves_exactly_k_blocks_trainable(k: int) -> None:
    model = build({"freeze": {"unfreeze_last": k}}, context(source_mlp(batchnorm=True)))
    # each Linear with the batch norm after it is one block
    assert [[type(m).__name__ for m in block] for block in model.blocks] == [["Linear", "BatchNorm1d"]] * 3
    assert model.trainable_blocks() == k
    for i, block in enumerate(model.blocks):
        assert all(p.requires_grad == (i >= 3 - k) for p in block.parameters())


def test_freeze_all_trains_only_the_new_head_and_none_everything_the_embedding_uses() -> None:
    source = source_mlp()
    frozen = build({"freeze": "all", "head": [8]}, context(source))
    assert trainable(frozen.encoder) == 0
    assert trainable(frozen) == trainable(frozen.dense) + trainable(frozen.head)
    everything = build({"freeze": "none"}, context(source))
    # the source run's classifier head never runs for the embedding: it stays frozen
    assert trainable(everything.encoder) == trainable(source) - sum(
        p.numel() for p in source.head.parameters()
    )


def test_a_registered_layer_is_the_embedding_and_later_layers_are_not_blocks() -> None:
    model = build({"freeze": "none"}, context(source_mlp(), layer="features.3"))
    assert len(model.blocks) == 2  # features.1 and features.3 run; features.5 and the head do not
    assert model.head.in_features == 32
    assert trainable(model.encoder) == (64 * 64 + 64) + (64 * 32 + 32)


def test_training_changes_a_private_copy_never_the_served_source(tmp_path: Any) -> None:
    source = source_mlp()
    before = {k: v.clone() for k, v in source.state_dict().items()}
    model = {"type": "transfer", "encoder": "digits@1", "freeze": "none"}
    outcome = train(
        spec(model, epochs=2), DIGITS, Quiet(), Settings(data_dir=tmp_path), None, context(source)
    )  # type: ignore[arg-type]
    assert outcome.result.best["val_accuracy"] > 0
    assert all(torch.equal(before[k], v) for k, v in source.state_dict().items())


def test_a_trained_encoder_makes_a_few_labels_go_further(tmp_path: Any) -> None:
    """Register-then-fine-tune: an encoder trained on 1,200 digits, frozen under a new head trained on
    120 other labelled digits, beats the same network with random weights under the same head."""
    rng = np.random.default_rng(0)
    order = rng.permutation(len(DIGITS.y))
    first, few = order[:1200], order[1200:1320]
    settings = Settings(data_dir=tmp_path)
    source_spec = spec({"type": "mlp", "hidden": [64, 32]}, epochs=15)
    source_data = ArrayDataset(X=DIGITS.X[first], y=DIGITS.y[first], schema=DIGITS.schema)
    encoder = setup_run(source_spec, DIGITS.schema, settings).model
    encoder.load_state_dict(load(train(source_spec, source_data, Quiet(), settings).weights))  # type: ignore[arg-type]
    labelled = ArrayDataset(X=DIGITS.X[few], y=DIGITS.y[few], schema=DIGITS.schema)
    scores = {}
    for pretrained in (True, False):
        transfer = {"type": "transfer", "encoder": "digits@1", "freeze": "all", "pretrained": pretrained}
        run = spec(transfer, epochs=30)
        run = run.model_copy(update={"training": run.training.model_copy(update={"val_fraction": 0.5})})
        outcome = train(run, labelled, Quiet(), settings, None, context(encoder.eval()))  # type: ignore[arg-type]
        scores[pretrained] = outcome.result.best["val_accuracy"]
    assert scores[True] > 0.85, scores
    assert scores[True] > scores[False] + 0.1, scores


def test_refusals_name_the_encoder_field() -> None:
    transfer = spec({"type": "transfer", "encoder": "digits@1"})
    with pytest.raises(SpecError, match="reads inputs of shape \\[4\\]") as wrong_shape:
        setup_run(transfer, DIGITS.schema, Settings(), context(source_mlp(), shape=[4]))
    assert wrong_shape.value.loc == "/model/encoder"
    with pytest.raises(SpecError, match="no project is at hand") as no_project:
        setup_run(transfer, DIGITS.schema, Settings())
    assert no_project.value.loc == "/model/encoder"
    with pytest.raises(SpecError, match="has 3 blocks; 4 is more"):
        build({"freeze": {"unfreeze_last": 4}}, context(source_mlp()))


def test_a_registered_transfer_run_fine_tunes_through_the_blocks_its_own_run_froze() -> None:
    """A MiniLM run trained with `freeze: all`, registered, then fine-tuned with `freeze: none`:
    gradients must reach the transformer layers the first run kept frozen."""
    schema = DatasetSchema.model_validate(
        {
            "modality": "text",
            "input_shape": [1],
            "target_type": "categorical",
            "classes": [{"label": 0}, {"label": 1}],
        }
    )
    first = spec({"type": "transfer", "encoder": "minilm-l6", "freeze": "all", "max_tokens": 8})
    source = setup_run(first, schema, Settings()).model.eval()
    ctx = BuildContext(resolve_encoder=lambda ref: SourceEncoder("faq@1", source, [1], None))
    tuned = setup_run(
        spec({"type": "transfer", "encoder": "faq@1", "freeze": "none"}), schema, Settings(), ctx
    )
    model = tuned.model.train()
    assert isinstance(model, RunTransfer)
    ids = model.encode_inputs(np.array(["reset my password", "opening hours"]))
    model(ids).sum().backward()
    attention = dict(model.encoder.named_parameters())["encoder.encoder.layer.0.attention.self.query.weight"]
    assert attention.requires_grad
    assert attention.grad is not None
    assert attention.grad.abs().sum() > 0
