"""Property: any spec a user can send either builds and runs a forward pass on its dataset's input shape,
or is refused with a 422 that points into the spec. Never a 500, never anything else."""

from __future__ import annotations

from typing import Any

import torch
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepfeat.config import Settings
from deepfeat.data.builtins import load_builtin
from deepfeat.specs.runs import RunSpec
from deepfeat.train.setup import setup_run

ACTIVATIONS = ["relu", "leaky_relu", "elu", "gelu", "silu", "sigmoid", "tanh", "swish"]  # one invalid
INITS = ["xavier_uniform", "xavier_normal", "he_uniform", "he_normal", "orthogonal", "default", "lecun"]


def mostly(valid: st.SearchStrategy[Any], invalid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Valid values most of the time, so the search reaches deep into buildable specs too."""
    return st.one_of(*[valid] * 7, invalid)


sizes = st.lists(mostly(st.integers(1, 48), st.integers(-1, 0)), max_size=5)
dense = {
    "activation": st.sampled_from(ACTIVATIONS),
    "dropout": st.sampled_from([0.0, 0.3, 1.0]),
    "batchnorm": st.booleans(),
    "init": st.sampled_from(INITS),
}
layer = st.one_of(
    st.fixed_dictionaries({"layer": st.just("linear"), "out_features": st.integers(-1, 32)}),
    st.fixed_dictionaries(
        {
            "layer": st.sampled_from(["conv1d", "conv2d"]),
            "out_channels": st.integers(1, 8),
            "kernel_size": st.integers(1, 9),
            "padding": st.integers(0, 3),
        }
    ),
    st.fixed_dictionaries(
        {"layer": st.sampled_from(["maxpool1d", "maxpool2d", "avgpool2d"]), "kernel_size": st.integers(1, 5)}
    ),
    st.fixed_dictionaries(
        {
            "layer": st.sampled_from(["lstm", "gru"]),
            "hidden_size": st.integers(1, 8),
            "output": st.sampled_from(["sequence", "last"]),
        }
    ),
    st.fixed_dictionaries(
        {
            "layer": st.just("embedding"),
            "num_embeddings": st.integers(2, 20),
            "embedding_dim": st.integers(1, 4),
        }
    ),
    st.fixed_dictionaries({"layer": st.sampled_from(["flatten", "batchnorm", "layernorm", "dropout"])}),
    st.fixed_dictionaries(
        {"layer": st.just("reshape"), "shape": st.lists(st.integers(1, 64), min_size=1, max_size=3)}
    ),
    st.fixed_dictionaries({"layer": st.just("activation"), "name": st.sampled_from(ACTIVATIONS)}),
)
models = st.one_of(
    st.fixed_dictionaries({"type": st.just("mlp"), "hidden": sizes, **dense}),
    st.fixed_dictionaries(
        {
            "type": st.just("cnn"),
            "channels": st.lists(st.integers(0, 16), max_size=5),
            "kernel_size": st.integers(0, 9),
            "stride": st.integers(1, 3),
            "padding": st.sampled_from(["same", "valid", 0, 1, 4]),
            "pool": st.sampled_from(["max", "avg", None]),
            "hidden": sizes,
            **dense,
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("rnn"),
            "cell": st.sampled_from(["lstm", "gru", "rnn", "transformer"]),
            "hidden_size": st.integers(0, 16),
            "num_layers": st.integers(1, 3),
            "bidirectional": st.booleans(),
            "pooling": st.sampled_from(["last", "mean"]),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("autoencoder"),
            "hidden": sizes,
            "latent_dim": st.integers(0, 8),
            "channels": st.one_of(st.none(), st.lists(st.integers(1, 8), min_size=1, max_size=4)),
            "loss": st.sampled_from(["mse", "bce"]),
        }
    ),
    st.fixed_dictionaries(
        {"type": st.just("gan"), "latent_dim": st.integers(0, 8), "style": st.sampled_from(["mlp", "dcgan"])}
    ),
    st.fixed_dictionaries({"type": st.just("sequential"), "layers": st.lists(layer, max_size=6)}),
    st.fixed_dictionaries({"type": st.sampled_from(["resnet", 7, None])}),
)
training = st.fixed_dictionaries(
    {
        "epochs": mostly(st.integers(1, 3), st.integers(-1, 0)),
        "batch_size": mostly(st.integers(1, 64), st.just(0)),
    }
)
datasets = mostly(st.sampled_from(["builtin:digits", "builtin:iris"]), st.sampled_from(["builtin:nope", ""]))


def task_for(model: dict[str, Any]) -> st.SearchStrategy[str]:
    fitting = {"autoencoder": "autoencoder", "gan": "gan"}.get(str(model.get("type")), "classification")
    return mostly(st.just(fitting), st.sampled_from(["classification", "regression", "gan", "ranking"]))


coherent = models.flatmap(
    lambda model: st.fixed_dictionaries(
        {"dataset": datasets, "task": task_for(model), "model": st.just(model), "training": training}
    )
)
anything = st.fixed_dictionaries(
    {
        "dataset": st.sampled_from(["builtin:digits", "builtin:iris", "builtin:diabetes", "builtin:nope"]),
        "task": st.sampled_from(["classification", "regression", "autoencoder", "gan", "ranking"]),
        "model": models,
        "training": training,
    }
)
specs = st.one_of(coherent, coherent, anything)
SHAPES = {name: load_builtin(name).schema for name in ("digits", "iris", "diabetes")}


def test_random_specs_build_and_run_or_get_a_422_with_a_pointer(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    outcomes = {200: 0, 422: 0}

    @settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(spec=specs)
    def check(spec: dict[str, Any]) -> None:
        response = client.post("/v1/runs:validate", json=spec, headers=admin_headers)
        assert response.status_code in (200, 422), response.text
        outcomes[response.status_code] += 1
        body = response.json()
        if response.status_code == 422:
            assert body["loc"].startswith("/"), body
            assert body["detail"]
            return
        parsed = RunSpec.model_validate(spec)
        schema = SHAPES[parsed.dataset.removeprefix("builtin:")]
        model = setup_run(parsed, schema, Settings()).model.eval()
        with torch.no_grad():
            out = model(torch.zeros(2, *schema.input_shape))
        assert list(out.shape[1:]) == body["output_shape"]

    check()
    assert outcomes[200] > 50, outcomes  # the generator reaches valid specs too, not only refusals
