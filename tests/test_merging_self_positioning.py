"""Self Positioning's core: the gradient with respect to λ, the search on a tiny model, the final merge."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from embedlab.models.merging.self_positioning import (
    SelfPositioningParams, layer_group, merged_parameters, probe_loss, self_position)


class TinyNet(nn.Module):
    """Two layers named like a transformer's blocks (`layer.0.weight`, `layer.1.bias`, …)."""

    def __init__(self):
        super().__init__()
        self.layer = nn.ModuleList([nn.Linear(3, 4), nn.Linear(4, 2)])

    def forward(self, x):
        return self.layer[1](torch.tanh(self.layer[0](x)))


def mse(forward, batch):
    inputs, targets = batch
    return ((forward(inputs) - targets) ** 2).mean()


def parameters(module):
    return {name: p.detach().clone() for name, p in module.named_parameters()}


COLUMNS = {"task": {f"layer.{i}.{p}": 0 for i in (0, 1) for p in ("weight", "bias")},
           "layer": {f"layer.{i}.{p}": i for i in (0, 1) for p in ("weight", "bias")}}


def test_layer_groups_follow_transformer_names():
    assert layer_group("encoder.layer.3.attention.self.query.weight") == "layer.3"
    assert layer_group("0.auto_model.encoder.layer.11.output.dense.bias") == "layer.11"
    assert layer_group("embeddings.word_embeddings.weight") == "embeddings"
    assert layer_group("pooler.dense.weight") == "other"


@pytest.mark.parametrize("granularity", ["task", "layer"])
def test_the_gradient_with_respect_to_lambda_matches_finite_differences(granularity):
    torch.manual_seed(0)
    module = TinyNet().double()
    base = parameters(module)
    vectors = [{name: torch.randn_like(p) for name, p in base.items()} for _ in range(3)]
    batch = (torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64))
    columns = COLUMNS[granularity]
    lambdas = torch.rand(3, 1 + max(columns.values()), dtype=torch.float64, requires_grad=True)

    probe_loss(module, base, vectors, lambdas, columns, mse, batch).backward()

    step, numeric = 1e-6, torch.zeros_like(lambdas)
    for index in itertools.product(*map(range, lambdas.shape)):
        bump = torch.zeros_like(lambdas)
        bump[index] = step
        up = probe_loss(module, base, vectors, lambdas.detach() + bump, columns, mse, batch)
        down = probe_loss(module, base, vectors, lambdas.detach() - bump, columns, mse, batch)
        numeric[index] = (up - down) / (2 * step)
    assert_close(lambdas.grad, numeric, rtol=1e-6, atol=1e-8)


def test_the_search_finds_the_useful_task_vector_and_leaves_its_inputs_alone():
    torch.manual_seed(1)
    module, target = TinyNet(), TinyNet()
    base, goal = parameters(module), parameters(target)
    useful = {name: goal[name] - base[name] for name in base}
    noise = {name: torch.randn_like(p) for name, p in base.items()}
    inputs = torch.randn(64, 3)
    batches = [(inputs, target(inputs).detach())]
    copies = [parameters(module), {k: v.clone() for k, v in useful.items()}, {k: v.clone() for k, v in noise.items()}]

    result = self_position(module, base, [useful, noise], mse, batches, SelfPositioningParams(lr=0.1, steps=40))

    assert result.groups == ("all",) and result.lambdas.shape == (2, 1)
    assert_close(result.lambdas[:, 0], torch.tensor([1.0, 0.0]), atol=0.1, rtol=0)
    assert len(result.history) == 40 and result.history[-1]["loss"] < 0.01 * result.history[0]["loss"]
    for original, copy in zip([base, useful, noise], copies):
        assert all(torch.equal(original[name], copy[name]) for name in original)
    held = self_position(module, base, [useful, noise], mse, batches,
                         SelfPositioningParams(lr=0.1, steps=40, l2=100, init=0.3))
    assert_close(held.lambdas, torch.full((2, 1), 0.3), atol=0.02, rtol=0)  # the L2 pull to init wins


def test_the_learned_lambdas_merge_any_tensor_by_its_layer():
    torch.manual_seed(2)
    module = TinyNet()
    base = parameters(module)
    vectors = [{name: torch.randn_like(p) for name, p in base.items()} for _ in range(2)]
    batches = [(torch.randn(8, 3), torch.randn(8, 2))]
    result = self_position(module, base, vectors, mse, batches, SelfPositioningParams(granularity="layer", steps=5))
    assert result.groups == ("layer.0", "layer.1")
    expected = merged_parameters(base, vectors, result.lambdas, COLUMNS["layer"])
    for name, theta0 in base.items():
        assert_close(result.merge(theta0, [theta0 + v[name] for v in vectors], name), expected[name])
