"""Each spec option really takes effect in the built network and its optimizer."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import nn

from deepfeat.nn import create_model
from deepfeat.specs.model import MLPSpec
from deepfeat.specs.training import AdamSpec, RMSpropSpec, SGDSpec
from deepfeat.train.optim import build_optimizer, penalised_weights, penalty


def mlp(**options: Any) -> nn.Module:
    return create_model(MLPSpec(**options), [512], 10)


def first_linear(model: nn.Module) -> nn.Linear:
    return next(m for m in model.modules() if isinstance(m, nn.Linear))


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_he_normal_std_matches_sqrt_two_over_fan_in(activation: str) -> None:
    torch.manual_seed(0)
    weight = first_linear(mlp(hidden=[512], init="he_normal", activation=activation)).weight
    expected = math.sqrt(2 / 512) / (math.sqrt(1 + 0.01**2) if activation == "leaky_relu" else 1)
    assert abs(weight.std().item() - expected) / expected < 0.1


def test_xavier_uniform_stays_inside_its_bound_and_reaches_it() -> None:
    torch.manual_seed(0)
    layer = first_linear(mlp(hidden=[256], init="xavier_uniform", activation="tanh"))
    bound = (5 / 3) * math.sqrt(6 / (512 + 256))  # tanh gain 5/3
    assert layer.weight.abs().max().item() <= bound
    assert layer.weight.abs().max().item() > 0.95 * bound
    assert torch.count_nonzero(layer.bias) == 0


def test_xavier_normal_and_orthogonal() -> None:
    torch.manual_seed(0)
    w = first_linear(mlp(hidden=[512], init="xavier_normal", activation="sigmoid")).weight
    assert abs(w.std().item() - math.sqrt(2 / 1024)) / math.sqrt(2 / 1024) < 0.1
    q = first_linear(mlp(hidden=[512], init="orthogonal", activation="sigmoid")).weight
    assert torch.allclose(q @ q.T, torch.eye(512), atol=1e-4)


def test_default_init_is_left_to_pytorch() -> None:
    torch.manual_seed(0)
    w = first_linear(mlp(hidden=[512], init="default")).weight
    assert w.abs().max().item() <= 1 / math.sqrt(512)  # PyTorch's kaiming_uniform(a=√5) bound


def test_dropout_is_active_in_training_and_off_in_eval() -> None:
    model = mlp(hidden=[512], dropout=0.5)
    x = torch.randn(8, 512)
    model.train()
    assert not torch.equal(model.forward_features(x), model.forward_features(x))
    model.eval()
    assert torch.equal(model.forward_features(x), model.forward_features(x))


def test_batchnorm_running_statistics_update_in_training() -> None:
    model = mlp(hidden=[32], batchnorm=True)
    norm = next(m for m in model.modules() if isinstance(m, nn.BatchNorm1d))
    before = norm.running_mean.clone()
    model.train()
    model(torch.randn(16, 512) * 3 + 1)
    assert not torch.equal(before, norm.running_mean)
    frozen = norm.running_mean.clone()
    model.eval()
    model(torch.randn(16, 512))
    assert torch.equal(frozen, norm.running_mean)


def test_l1_penalty_adds_lambda_sign_w_to_gradients_and_l2_adds_lambda_w() -> None:
    model = mlp(hidden=[16])
    weights = penalised_weights(model)
    assert all(w.dim() >= 2 for w in weights)
    for l1, l2 in ((0.01, 0.0), (0.0, 0.02)):
        model.zero_grad()
        extra = penalty(weights, l1, l2)
        assert extra is not None
        extra.backward()
        for w in weights:
            assert w.grad is not None
            assert torch.allclose(w.grad, l1 * torch.sign(w) + l2 * w)
    biases = [m.bias for m in model.modules() if isinstance(m, nn.Linear)]
    assert not any(b is w for b in biases for w in weights)


def test_optimizer_options_reach_the_optimizer() -> None:
    params = [nn.Parameter(torch.zeros(2, 2))]
    sgd = build_optimizer(params, SGDSpec(lr=0.1, momentum=0.9, nesterov=True)).param_groups[0]
    assert (sgd["lr"], sgd["momentum"], sgd["nesterov"]) == (0.1, 0.9, True)
    rms = build_optimizer(params, RMSpropSpec(lr=0.01, alpha=0.8, momentum=0.5)).param_groups[0]
    assert (rms["alpha"], rms["momentum"]) == (0.8, 0.5)
    adamw = build_optimizer(params, AdamSpec(name="adamw", weight_decay=0.05))
    assert isinstance(adamw, torch.optim.AdamW)
    assert adamw.param_groups[0]["weight_decay"] == 0.05


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("relu", nn.ReLU),
        ("leaky_relu", nn.LeakyReLU),
        ("elu", nn.ELU),
        ("gelu", nn.GELU),
        ("silu", nn.SiLU),
        ("sigmoid", nn.Sigmoid),
        ("tanh", nn.Tanh),
    ],
)
def test_each_activation_appears_in_the_module_tree(name: str, cls: type[nn.Module]) -> None:
    model = mlp(hidden=[8, 8], activation=name)
    assert sum(isinstance(m, cls) for m in model.modules()) == 2
