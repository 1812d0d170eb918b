"""`model.type: transfer`: freeze policies by block, encoder learning-rate groups, and fine-tuning that
works on text (MiniLM) and images (EfficientNet-Lite0), trained by the real job code."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from deepfeat.config import Settings
from deepfeat.data.arrays import ArrayDataset
from deepfeat.data.builtins import load_builtin
from deepfeat.data.schema import DatasetSchema
from deepfeat.encoders.catalogue import backbone
from deepfeat.errors import SpecError
from deepfeat.nn.transfer import Transfer
from deepfeat.specs.model import TransferSpec
from deepfeat.specs.runs import RunSpec
from deepfeat.specs.training import TrainingSpec
from deepfeat.train.job import train
from deepfeat.train.optim import build_optimizer
from deepfeat.train.setup import setup_run

TEXT_SCHEMA: dict[str, Any] = {"modality": "text", "input_shape": [1], "target": "label"}


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Any:
    """Two torch threads on a shared 2-core machine ran 3.5× slower than one (DESIGN §7)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class Quiet:
    def epoch_end(self, *args: Any) -> None: ...
    def warn(self, *args: Any) -> None: ...
    def should_stop(self) -> bool:
        return False


def intents() -> ArrayDataset:
    """A small text classification set: three intents, phrased many ways (schema modality `text`)."""
    templates = {
        0: ["how do I reset my {}", "I forgot my {}", "can you help me change my {}", "my {} does not work"],
        1: [
            "what time do you open on {}",
            "are you open on {}",
            "opening hours for {}",
            "when can I visit on {}",
        ],
        2: [
            "I want a refund for my {}",
            "return my {} please",
            "how to send back a {}",
            "money back for the {}",
        ],
    }
    fillers = {
        0: ["password", "login", "account pin", "passcode", "credentials"],
        1: ["monday", "sunday", "the weekend", "holidays", "friday evening"],
        2: ["order", "shoes", "broken phone", "jacket", "parcel"],
    }
    texts, labels = [], []
    for label, forms in templates.items():
        for form in forms:
            for filler in fillers[label]:
                texts.append(form.format(filler))
                labels.append(label)
    schema = TEXT_SCHEMA | {
        "target_type": "categorical",
        "classes": [{"label": i, "name": n, "count": 20} for i, n in enumerate(["reset", "hours", "refund"])],
    }
    return ArrayDataset(
        X=np.array(texts, dtype=np.str_),
        y=np.array(labels, dtype=np.int64),
        schema=DatasetSchema.model_validate(schema),
    )


def run_spec(model: dict[str, Any], epochs: int, lr: float = 0.01) -> RunSpec:
    return RunSpec.model_validate(
        {
            "dataset": "builtin:x",
            "task": "classification",
            "model": model,
            "training": {
                "epochs": epochs,
                "batch_size": 32,
                "optimizer": {"name": "adam", "lr": lr},
                "seed": 0,
            },
        }
    )


@pytest.mark.parametrize(
    ("encoder", "shape", "blocks"), [("minilm-l6", [1], 6), ("efficientnet-lite0", [1, 8, 8], 17)]
)
def test_unfreeze_last_k_leaves_exactly_k_blocks_trainable(
    encoder: str, shape: list[int], blocks: int
) -> None:
    for freeze, expected in (("all", 0), ({"unfreeze_last": 2}, 2), ("none", blocks)):
        model = Transfer(TransferSpec(encoder=encoder, freeze=freeze, head=[16]), backbone(encoder), shape, 3)  # type: ignore[arg-type]
        assert model.trainable_blocks() == expected, freeze
        encoder_trainable = [p for p in model.encoder.parameters() if p.requires_grad]
        in_blocks = {id(p) for b in model.blocks[len(model.blocks) - expected :] for p in b.parameters()}
        if freeze != "none":
            assert {id(p) for p in encoder_trainable} == in_blocks
        assert all(p.requires_grad for p in model.dense.parameters())
        model.train()
        assert model.encoder.training is (freeze == "none")
    with pytest.raises(SpecError, match="unfreeze_last"):
        Transfer(
            TransferSpec(encoder=encoder, freeze={"unfreeze_last": blocks + 1}), backbone(encoder), shape, 3
        )  # type: ignore[arg-type]


def test_encoder_learning_rate_is_a_multiple_of_the_heads() -> None:
    model = Transfer(
        TransferSpec(encoder="minilm-l6", freeze={"unfreeze_last": 1}, encoder_lr_multiplier=0.1),
        backbone("minilm-l6"),
        [1],
        3,  # type: ignore[arg-type]
    )
    spec = TrainingSpec.model_validate({"optimizer": {"name": "adamw", "lr": 0.001}})
    optimizer = build_optimizer([p for p in model.parameters() if p.requires_grad], spec.optimizer)
    lrs = [g["lr"] for g in optimizer.param_groups]
    assert lrs == pytest.approx([0.001, 0.0001])
    assert sum(len(g["params"]) for g in optimizer.param_groups) == sum(
        1 for p in model.parameters() if p.requires_grad
    )


def test_specs_name_their_problem() -> None:
    settings = Settings()
    bad = run_spec({"type": "transfer", "encoder": "nope"}, 1)
    with pytest.raises(SpecError, match="not a catalogue encoder"):
        setup_run(
            bad,
            DatasetSchema.model_validate(
                TEXT_SCHEMA | {"target_type": "categorical", "classes": [{"label": 0}, {"label": 1}]}
            ),
            settings,
        )
    image_on_table = run_spec({"type": "transfer", "encoder": "efficientnet-lite0"}, 1)
    schema = DatasetSchema.model_validate(
        {
            "modality": "tabular",
            "input_shape": [4],
            "target_type": "categorical",
            "classes": [{"label": 0}, {"label": 1}],
        }
    )
    with pytest.raises(SpecError, match="reads images"):
        setup_run(image_on_table, schema, settings)


def test_minilm_transfer_learns_text_intents(tmp_path: Any) -> None:
    data = intents()
    spec = run_spec({"type": "transfer", "encoder": "minilm-l6", "head": [32], "max_tokens": 16}, 12, lr=0.01)
    outcome = train(spec, data, Quiet(), Settings(data_dir=tmp_path))  # type: ignore[arg-type]
    assert outcome.result.best["val_accuracy"] >= 0.9


def test_pretrained_efficientnet_features_beat_a_random_encoder_on_mnist(tmp_path: Any) -> None:
    mnist = load_builtin("mnist-5k")
    rows = np.random.default_rng(0).choice(len(mnist.y), 400, replace=False)
    data = ArrayDataset(X=mnist.X[rows], y=mnist.y[rows], schema=mnist.schema)
    scores = {}
    for pretrained in (True, False):
        model = {
            "type": "transfer",
            "encoder": "efficientnet-lite0",
            "image_size": 32,
            "pretrained": pretrained,
        }
        outcome = train(run_spec(model, 8, lr=0.01), data, Quiet(), Settings(data_dir=tmp_path))  # type: ignore[arg-type]
        scores[pretrained] = outcome.result.best["val_accuracy"]
    assert scores[True] > 0.5, scores  # 400 images, 8 epochs of a linear head: far from converged
    assert scores[True] > scores[False] + 0.2, scores


def test_minilm_beats_the_same_network_from_scratch_on_faq_intents(tmp_path: Any) -> None:
    """21 intents, 752 questions; the held-out split decides. Frozen encoder, linear head."""
    data = load_builtin("faq-intents")
    scores = {}
    for pretrained in (True, False):
        model = {"type": "transfer", "encoder": "minilm-l6", "max_tokens": 32, "pretrained": pretrained}
        outcome = train(run_spec(model, 5, lr=0.01), data, Quiet(), Settings(data_dir=tmp_path))  # type: ignore[arg-type]
        scores[pretrained] = outcome.result.best["val_accuracy"]
    assert scores[True] > scores[False] + 0.05, scores
