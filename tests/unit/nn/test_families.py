"""Every family builds the network its spec describes, exposes an embedding, and refuses what cannot run."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from pydantic import TypeAdapter

from deepfeat.errors import SpecError
from deepfeat.nn import create_model
from deepfeat.specs.model import ModelSpec

MODEL = TypeAdapter(ModelSpec)


def build(model: dict[str, Any], shape: list[int], out: int = 3) -> torch.nn.Module:
    return create_model(MODEL.validate_python(model), shape, out)


@pytest.mark.parametrize(
    ("model", "shape", "embedding"),
    [
        ({"type": "mlp", "hidden": [20, 7]}, [4], 7),
        ({"type": "cnn", "channels": [4, 8], "hidden": [5]}, [1, 8, 8], 5),
        ({"type": "cnn", "channels": [4], "hidden": [], "pool": None}, [10, 3], 4 * 10),  # 1-D over T
        ({"type": "cnn", "channels": [4, 6], "hidden": [], "global_pool": True}, [12], 6),
        ({"type": "rnn", "cell": "lstm", "hidden_size": 9, "bidirectional": True}, [5, 3], 18),
        ({"type": "rnn", "cell": "rnn", "hidden_size": 4, "num_layers": 2, "pooling": "mean"}, [1, 6, 6], 4),
        ({"type": "autoencoder", "hidden": [16], "latent_dim": 3}, [10], 3),
        ({"type": "autoencoder", "channels": [4, 8], "hidden": [], "latent_dim": 5}, [1, 7, 9], 5),
        (
            {"type": "sequential", "layers": [{"layer": "lstm", "hidden_size": 6, "output": "last"}]},
            [5, 2],
            6,
        ),
    ],
)
def test_forward_features_is_the_embedding_and_forward_the_task_output(
    model: dict[str, Any], shape: list[int], embedding: int
) -> None:
    net = build(model, shape).eval()
    x = torch.randn(4, *shape)
    assert net.forward_features(x).shape == (4, embedding)
    expected = (4, *shape) if model["type"] == "autoencoder" else (4, 3)
    assert net(x).shape == expected


def test_token_rnn_embeds_ids() -> None:
    net = build({"type": "rnn", "vocab_size": 50, "embedding_dim": 8, "hidden_size": 6}, [12]).eval()
    ids = torch.randint(0, 50, (3, 12)).float()
    assert net(ids).shape == (3, 3)
    assert any(isinstance(m, torch.nn.Embedding) for m in net.modules())


def test_gan_generates_samples_in_the_data_shape_and_range() -> None:
    net = build({"type": "gan", "latent_dim": 4, "style": "dcgan"}, [1, 8, 8])
    data = torch.rand(32, 1, 8, 8) * 16
    net.input_norm.fit(data)
    samples = net.generate(5)
    assert samples.shape == (5, 1, 8, 8)
    assert samples.min() >= data.min() - 1e-4
    assert samples.max() <= data.max() + 1e-4


@pytest.mark.parametrize(
    ("model", "shape", "loc", "words"),
    [
        (
            {"type": "cnn", "channels": [8, 16, 32, 64], "pool": "max"},
            [1, 8, 8],
            "/model/channels/3",
            "feature map shrinks to 0×0 after 4 max-pools on 8×8 input",
        ),
        (
            {"type": "cnn", "channels": [4], "kernel_size": 9, "padding": "valid", "pool": None},
            [1, 8, 8],
            "/model/channels/0",
            "after 1 convolutions",
        ),
        ({"type": "rnn"}, [3, 8, 8], "/model/type", "sequences"),
        ({"type": "rnn", "vocab_size": 10}, [5, 2], "/model/vocab_size", "token ids"),
        ({"type": "autoencoder", "channels": [4]}, [16], "/model/channels", "images"),
        (
            {"type": "autoencoder", "channels": [4, 4, 4, 4]},
            [1, 4, 4],
            "/model/channels/2",
            "cannot be halved",
        ),
        ({"type": "gan", "style": "dcgan"}, [1, 6, 6], "/model/style", "divisible by 4"),
        (
            {"type": "sequential", "layers": [{"layer": "conv2d", "out_channels": 2}]},
            [64],
            "/model/layers/0",
            "C×H×W",
        ),
        (
            {"type": "sequential", "layers": [{"layer": "flatten"}, {"layer": "reshape", "shape": [3, 3]}]},
            [1, 8, 8],
            "/model/layers/1",
            "cannot reshape",
        ),
        (
            {
                "type": "sequential",
                "layers": [
                    {"layer": "linear", "out_features": 4},
                    {"layer": "embedding", "num_embeddings": 5, "embedding_dim": 2},
                ],
            },
            [4],
            "/model/layers/1",
            "must come first",
        ),
    ],
)
def test_impossible_shapes_are_refused_with_a_pointer(
    model: dict[str, Any], shape: list[int], loc: str, words: str
) -> None:
    with pytest.raises(SpecError) as info:
        build(model, shape)
    assert info.value.loc == loc
    assert words in info.value.detail
