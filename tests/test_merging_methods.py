"""Merge methods on hand-built tensors: task arithmetic, TIES and DARE against hand-computed results."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from conftest import REPO
from embedlab.config import load_settings
from embedlab.errors import UserError
from embedlab.models.merging import METHODS
from embedlab.models.merging.general import GeneralTaskArithmetic, drop_random, ties_mean, trim_magnitude
from embedlab.models.merging.self_positioning import Positioning


def build(name: str, **values):
    method = METHODS.get(name)
    if method.search is not None:  # a learned merge: its per-tensor merge once the search is done (λ = 0.5 here)
        return Positioning(torch.full((3, 1), 0.5), ("all",), "task").merge
    return method.build(METHODS.params(name, values))


def t(*values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


BASE = t(1, 1, 1, 1, 1)
TAUS = [t(3, -1, 0.5, -2, 0.1), t(-1, -2, 0.4, 4, 0.2), t(2, 0.5, -3, 1, 0.3)]
TUNED = [BASE + tau for tau in TAUS]


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_leaves_its_inputs_alone_and_keeps_shape_and_dtype(name):
    base, tuned = torch.randn(3, 4, dtype=torch.bfloat16), [torch.randn(3, 4, dtype=torch.bfloat16) for _ in range(3)]
    copies = [base.clone(), *(x.clone() for x in tuned)]
    merged = build(name)(base, tuned, "layer.weight")
    assert all(torch.equal(a, b) for a, b in zip([base, *tuned], copies))
    assert merged.shape == base.shape and merged.dtype == torch.bfloat16
    assert merged.data_ptr() not in {x.data_ptr() for x in [base, *tuned]}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_returns_the_base_when_no_model_moved(name):
    assert_close(build(name)(BASE, [BASE.clone(), BASE.clone()], "w"), BASE)


def test_integer_tensors_are_the_base_s():
    ids = torch.arange(6)
    assert torch.equal(build("task_arithmetic")(ids, [ids + 1], "embeddings.position_ids"), ids)


def test_task_arithmetic_with_lambda_0_is_the_base_and_with_one_model_and_lambda_1_that_model():
    assert torch.equal(build("task_arithmetic", **{"lambda": 0.0})(BASE, TUNED, "w"), BASE)
    assert_close(build("task_arithmetic", **{"lambda": 1.0})(BASE, TUNED[:1], "w"), TUNED[0])
    assert_close(build("task_arithmetic", **{"lambda": 0.5})(BASE, TUNED, "w"), BASE + 0.5 * sum(TAUS))


def test_average_is_the_mean_of_the_models():
    assert_close(build("average")(BASE, TUNED, "w"), (TUNED[0] + TUNED[1] + TUNED[2]) / 3)


def test_ties_trims_elects_and_takes_the_disjoint_mean():
    # density 0.6 keeps ceil(0.6 * 5) = 3 entries per task vector, by magnitude
    assert torch.equal(trim_magnitude(TAUS[0], 0.6), t(3, -1, 0, -2, 0))
    assert torch.equal(trim_magnitude(TAUS[1], 0.6), t(-1, -2, 0, 4, 0))
    assert torch.equal(trim_magnitude(TAUS[2], 0.6), t(2, 0, -3, 1, 0))
    # total mass [4, -3, -3, 3, 0] elects signs [+, -, -, +, none]; means of the agreeing non-zero entries
    trimmed = torch.stack([trim_magnitude(tau, 0.6) for tau in TAUS])
    assert_close(ties_mean(trimmed), t(2.5, -1.5, -3, 2.5, 0))
    assert_close(build("ties", density=0.6, **{"lambda": 1.0})(BASE, TUNED, "w"), t(3.5, -0.5, -2, 3.5, 1))
    assert_close(build("ties", density=0.6, **{"lambda": 0.5})(BASE, TUNED, "w"), t(2.25, 0.25, -0.5, 2.25, 1))


def test_dare_drops_and_rescales_as_by_hand():
    # torch.rand(4) under seed 0 is [0.4963, 0.7682, 0.0885, 0.1320]: with p = 0.5 entry 1 is dropped
    kept = drop_random(t(1, 2, 3, 4), 0.5, torch.Generator().manual_seed(0))
    assert torch.equal(kept, t(2, 0, 6, 8))
    # two models: every entry of Σ τ̂_i is one of 0, 2·1, 2·10, 2·11
    base, tuned = torch.zeros(200), [torch.ones(200), torch.full((200,), 10.0)]
    merged = build("dare", drop=0.5, seed=7, **{"lambda": 1.0})(base, tuned, "w")
    assert set(merged.tolist()) == {0.0, 2.0, 20.0, 22.0}


def test_dare_is_seeded_and_unbiased():
    base, tuned = torch.zeros(20_000), [torch.ones(20_000)]
    merge = build("dare", drop=0.9, seed=3, **{"lambda": 1.0})
    merged = merge(base, tuned, "w")
    assert torch.equal(merged, merge(base, tuned, "w"))
    assert not torch.equal(merged, merge(base, tuned, "other.w"))
    assert not torch.equal(merged, build("dare", drop=0.9, seed=4, **{"lambda": 1.0})(base, tuned, "w"))
    assert (merged != 0).float().mean().item() == pytest.approx(0.1, abs=0.01)
    assert merged.mean().item() == pytest.approx(1.0, abs=0.1)
    assert_close(build("dare", drop=0.0, **{"lambda": 0.5})(BASE, TUNED, "w"), BASE + 0.5 * sum(TAUS))


def test_bad_method_names_and_parameters_are_one_line_errors_naming_the_key():
    with pytest.raises(UserError, match="did you mean 'ties'"):
        METHODS.get("tie")
    with pytest.raises(UserError, match=r"merge method 'ties': density: Input should be less than or equal to 1"):
        METHODS.params("ties", {"density": 2})
    with pytest.raises(UserError, match=r"merge method 'dare': dropp: Extra inputs are not permitted"):
        METHODS.params("dare", {"dropp": 0.5})
    with pytest.raises(ValueError, match="density < 1 needs sparsify"):
        GeneralTaskArithmetic(density=0.5)


def test_params_yaml_configures_every_registered_method_validly():
    methods = load_settings(REPO / "params.yaml").params.merge.methods
    assert sorted(methods) == sorted(METHODS)
    for name, values in methods.items():
        METHODS.params(name, values)
