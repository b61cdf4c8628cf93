"""The unified gradient paradigm (arXiv 2402.18281) checked against autograd, and the hierarchical loss by hand."""

from __future__ import annotations

from functools import partial

import pytest
import torch
import torch.nn.functional as F

from embedlab.models.losses import CSE_OBJECTIVES, LOSSES
from embedlab.models.losses.align_uniform import align_uniform_terms
from embedlab.models.losses.arccon import arccon_terms
from embedlab.models.losses.barlow_twins import barlow_twins_terms
from embedlab.models.losses.hierarchical import hierarchical
from embedlab.models.losses.infonce import infonce, infonce_terms
from embedlab.models.losses.met import met_terms
from embedlab.models.losses.mhs import mhs_terms
from embedlab.models.losses.mpt import mpt_terms
from embedlab.models.losses.paradigm import Components, decompose
from embedlab.models.losses.vicreg import vicreg_terms

# Each paradigm objective's terms function at the loss's defaults.
TERMS = {
    "infonce": partial(infonce_terms, scale=20.0),
    "arccon": partial(arccon_terms, scale=20.0, margin=torch.pi / 18),
    "mpt": partial(mpt_terms, margin=0.23),
    "met": partial(met_terms, margin=0.45),
    "align_uniform": partial(align_uniform_terms, lam=10.0, t=1.0),
    "barlow_twins": partial(barlow_twins_terms, lam=30.0),
    "vicreg": partial(vicreg_terms, lam=30.0),
    "mhs": partial(mhs_terms, lam=1.0),
}
CONTRASTIVE = ("infonce", "arccon", "mpt", "met")
NON_CONTRASTIVE = ("align_uniform", "barlow_twins", "vicreg", "mhs")
# Every objective's terms are its exact anchor gradient (the non-contrastive ones are the authors' surrogates).
EXACT = CONTRASTIVE + NON_CONTRASTIVE
ALL_COMPONENTS = {"margin": 0.3, "weight_temperature": 0.05, "ratio": 1.5}


def unit_batch(batch: int = 8, dim: int = 16, hard: int = 1, noise: float = 0.6, seed: int = 0) -> list[torch.Tensor]:
    """[anchors, positives (noisy copies), hard negatives...] of unit vectors, anchors requiring grad."""
    generator = torch.Generator().manual_seed(seed)
    anchors = F.normalize(torch.randn(batch, dim, generator=generator), dim=-1)
    positives = F.normalize(anchors + noise * torch.randn(batch, dim, generator=generator), dim=-1)
    negatives = [F.normalize(torch.randn(batch, dim, generator=generator), dim=-1) for _ in range(hard)]
    return [t.clone().requires_grad_() for t in (anchors, positives, *negatives)]


def tangent(h: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """The part of g (B, D) tangent to the sphere at h: the gradient through normalisation at unit inputs."""
    return g - (g * h).sum(dim=1, keepdim=True) * h


def anchor_grad(loss: torch.Tensor, embeddings: list[torch.Tensor]) -> torch.Tensor:
    return torch.autograd.grad(loss, embeddings[0])[0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_infonce_anchor_gradient_is_the_paradigm_closed_form(seed):
    embeddings = unit_batch(seed=seed)
    h, positives, hard = (e.detach() for e in embeddings)
    tau, batch = 0.05, h.size(0)
    candidates = torch.cat([positives, hard])  # (2B, D)
    probs = torch.softmax(h @ candidates.T / tau, dim=1)
    own = torch.eye(batch, candidates.size(0), dtype=torch.bool)
    gd = (1 - probs[own]) / tau / batch  # (B,): the mean over anchors gives 1/B
    weights = probs.masked_fill(own, 0) / (1 - probs[own])[:, None]  # softmax over the negatives, R = 1
    closed = gd[:, None] * (weights[:, :, None] * (candidates[None] - positives[:, None])).sum(dim=1)
    assert torch.allclose(anchor_grad(infonce(embeddings, scale=1 / tau), embeddings), tangent(h, closed), atol=1e-5)


def test_infonce_weight_and_ratio_components_replace_w_and_r():
    embeddings = unit_batch(seed=3)
    h, positives, hard = (e.detach() for e in embeddings)
    candidates = torch.cat([positives, hard])
    own = torch.eye(h.size(0), candidates.size(0), dtype=torch.bool)
    gd, _, _ = decompose(infonce_terms(h, positives, hard, 20.0))  # GD stays InfoNCE's own
    weights = torch.softmax((h @ candidates.T / 0.2).masked_fill(own, float("-inf")), dim=1)
    closed = gd[:, None] * (weights[:, :, None] * (candidates[None] - 1.7 * positives[:, None])).sum(dim=1)
    loss = infonce(embeddings, weight_temperature=0.2, ratio=1.7)
    assert torch.allclose(anchor_grad(loss, embeddings), tangent(h, closed), atol=1e-5)


def test_every_paradigm_objective_has_terms():
    assert set(TERMS) | {"hierarchical"} == set(CSE_OBJECTIVES)


@pytest.mark.parametrize("name", EXACT)
def test_objective_terms_are_its_exact_anchor_gradient(name):
    embeddings = unit_batch(seed=4)
    h, positives, hard = (e.detach() for e in embeddings)
    terms = TERMS[name](h, positives, hard)
    gd, weights, ratio = decompose(terms)
    assert torch.allclose(weights.abs().sum(dim=1)[gd > 0], torch.ones(int((gd > 0).sum())), atol=1e-5)
    closed = gd[:, None] * (weights @ terms.negatives - ratio[:, None] * terms.positives)
    assert torch.allclose(anchor_grad(LOSSES.get(name)(embeddings), embeddings), tangent(h, closed), atol=1e-5)


@pytest.mark.parametrize("name", CONTRASTIVE)
def test_dissipation_switches_off_a_row_with_a_large_margin(name):
    embeddings = unit_batch(seed=5, noise=0.6)
    with torch.no_grad():  # row 0: its positive is itself, its negatives point away
        embeddings[1][0] = embeddings[0][0]
        embeddings[2][0] = -embeddings[0][0]
    loss = LOSSES.get(name)(embeddings, **ALL_COMPONENTS)
    first, second = torch.autograd.grad(loss, embeddings[:2])
    assert first[0].abs().max() == 0 and second[0].abs().max() == 0
    assert first[1:].abs().sum() > 0 and second[1:].abs().sum() > 0


@pytest.mark.parametrize("name", CSE_OBJECTIVES)
@pytest.mark.parametrize("components", [{}, {**ALL_COMPONENTS, "margin": 0.9}, {"weight_power": 4.0, "ratio": 1.75}],
                         ids=["own", "modified", "power"])
def test_every_objective_gives_finite_gradients(name, components):
    embeddings = unit_batch(hard=2, seed=6)
    loss = LOSSES.get(name)(embeddings, None, 20.0, **components)
    grads = torch.autograd.grad(loss, embeddings[:2])
    assert torch.isfinite(loss) and all(torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0


@pytest.mark.parametrize("name", sorted(TERMS))
def test_components_keep_the_value_and_give_the_paradigm_form(name):
    """With weight and ratio set, every objective's anchor gradient is GD_i Σ_j W_ij (n_j − R p_i), GD its own."""
    embeddings = unit_batch(seed=7, hard=0)
    own = LOSSES.get(name)(embeddings)
    modified = LOSSES.get(name)(embeddings, weight_temperature=0.1, ratio=1.5)
    assert torch.allclose(own, modified)
    h, positives = (e.detach() for e in embeddings)
    terms = TERMS[name](h, positives, h[:0])
    gd, _, _ = decompose(terms)
    weights = torch.softmax((h @ terms.negatives.T / 0.1).masked_fill(~terms.mask, float("-inf")), dim=1)
    closed = gd[:, None] * (weights @ terms.negatives - 1.5 * terms.positives)
    assert torch.allclose(anchor_grad(modified, embeddings), tangent(h, closed), atol=1e-5)


def test_hierarchical_loss_by_hand():
    """The authors' NGCSE loss with three levels: level 2 is the InfoNCE positive, margin terms averaged."""
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    level1 = torch.tensor([[0.8, 0.6], [0.6, 0.8]])  # s(x, x_1) = 0.8, 0.8
    level2 = torch.tensor([[0.6, 0.8], [0.8, 0.6]])  # s(x, x_2) = 0.6, 0.6: in order, margin 0.005 is met
    level3 = torch.tensor([[0.6, 0.8], [1.0, 0.0]])  # s(x, x_3) = 0.6, 0.0: row 0 ties level 2
    # InfoNCE at τ = 0.05 against level 2: row 0's logits are s(x_0, level2 rows) / τ = [0.6, 0.8] / τ = [12, 16]
    # (target 0), row 1's [s(x_1, (0.6, 0.8)), s(x_1, (0.8, 0.6))] / τ = [16, 12] (target 1): both −log σ(−4)
    infonce_part = torch.log1p(torch.exp(torch.tensor(4.0)))
    # level 1→2: no violation; level 2→3: row 0 violates m_2 = 0.05 by 0.05, row 1 not: mean 0.025;
    # averaged over the two level pairs
    ranking = (0.0 + (0.6 - 0.6 + 0.05) / 2) / 2
    expected = infonce_part + 2.0 * ranking
    loss = hierarchical([x, level1, level2, level3], None, 20.0, beta=2.0, level_margins=(0.005, 0.05))
    assert loss.item() == pytest.approx(expected.item(), abs=1e-6)


def test_hierarchical_loss_with_two_levels_takes_level_one_as_positive():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    level1 = torch.tensor([[0.8, 0.6], [0.6, 0.8]])  # s = 0.8 on the diagonal, 0.6 off it
    level2 = torch.tensor([[0.0, 1.0], [1.0, 0.0]])  # s(x, x_2) = 0, 0: below level 1 by more than m_1
    # InfoNCE against level 1: logits [16, 12] for both rows (own first after reordering): log(1 + e^-4)
    expected = torch.log1p(torch.exp(torch.tensor(-4.0)))  # one level pair, no violation
    loss = hierarchical([x, level1, level2], None, 20.0, beta=1.0, level_margins=(0.005, 0.05))
    assert loss.item() == pytest.approx(expected.item(), abs=1e-6)


def test_components_are_checked():
    with pytest.raises(ValueError, match="not both"):
        Components(weight_temperature=0.05, weight_power=2.0)
    with pytest.raises(ValueError, match="ratio must be > 0"):
        infonce(unit_batch(), ratio=0.0)
    with pytest.raises(TypeError):
        infonce(unit_batch(), temprature=0.05)
