"""The unified gradient paradigm of sentence-representation objectives, and its three components as options.

Reference: Li, Zhang, Nie 2024, "Towards Better Understanding of Contrastive Sentence Representation Learning:
A Unified Paradigm for Gradient" (ACL 2024, arXiv 2402.18281; code github.com/BDBC-KG-NLP/UnderstandingCSE).

On unit embeddings, the gradient of InfoNCE, ArcCon, MPT and MET with respect to an anchor h_i reads

    ∂L/∂h_i = GD_i · Σ_j W_ij (n_j − R_i h'_i),      Σ_j W_ij = 1,

with h'_i its positive, n_j its negatives, GD the *gradient dissipation*, W the *weight* of each negative and
R the *ratio* of the positive pull. Each objective states its own anchor gradient as `Terms`
(g_i = Σ_j a_ij n_j − b_i p_i), from which GD_i = Σ_j |a_ij|, W_ij = a_ij / GD_i and R_i = b_i / GD_i.

`Components` replace any of the three, on any objective, as in the authors' code (isotropy/models.py:
`sg` for the contrastive objectives, the `w_gd`/`w_w`/`w_r` flags of the non-contrastive ones):
  - `margin` m (GD). Contrastive objectives: GD becomes the binary mask alone, 1[s(h_i, h'_i) − max_j s(h_i, c_j)
    < m] with c_j the candidates of the other view other than h'_i, scaled by 1/(B · #active rows) (their `sg`
    loss's `(weight * target)[mask].mean()`), so a row whose own GD was small gets the same push as any other.
    Non-contrastive objectives: rows with 1 − max_{j≠i} s(h_i, h_j) ≥ m, measured within the anchor's own view,
    are switched off (their `w_gd` detaches those rows) and the others keep their own GD;
  - `weight_temperature` t or `weight_power` p (W): W_ij ∝ exp(s(h_i, n_j) / t), or max(s(h_i, n_j), 1e-4)^p,
    over the objective's own negatives;
  - `ratio` R: the pull of the positive.
With any component set, the gradient is that of the surrogate

    Σ_views Σ_i GD_i · [Σ_j W_ij ⟨h_i, sg(n_j)⟩ − R_i ⟨h_i, sg(p_i)⟩]      (sg: stop-gradient; GD, W, R constant)

taken once with each view as the anchors (the other view detached), as in the authors' code; the value returned
stays the objective's own, so `train/loss` remains comparable. The components not set keep the objective's own.
One simplification remains: with a new weight, a non-contrastive objective keeps its own GD_i (the authors'
modified variants also rescale GD_i by the row's share of the new weights' mass).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class Components:
    """Which paradigm components replace the objective's own (None keeps it)."""

    margin: float | None = None
    weight_temperature: float | None = None
    weight_power: float | None = None
    ratio: float | None = None

    def __post_init__(self) -> None:
        if self.weight_temperature is not None and self.weight_power is not None:
            raise ValueError("give weight_temperature or weight_power, not both")
        for name in ("weight_temperature", "weight_power", "ratio"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0, got {value}")

    @property
    def active(self) -> bool:
        return any(getattr(self, f.name) is not None for f in fields(self))


class Terms(NamedTuple):
    """An objective's anchor gradient g_i = Σ_j a_ij n_j − b_i p_i (its component tangent to the sphere).

    negatives: (N, D) unit vectors n_j; mask: (B, N) True where n_j is a negative of anchor i;
    a: (B, N), zero outside `mask`; positives: (B, D) unit direction p_i of the pull; b: (B,).
    """

    negatives: Tensor
    mask: Tensor
    a: Tensor
    positives: Tensor
    b: Tensor


TermsFn = Callable[[Tensor, Tensor, Tensor], Terms]  # (anchors, positives, hard negatives), unit and detached


def decompose(terms: Terms) -> tuple[Tensor, Tensor, Tensor]:
    """GD (B,), W (B, N) and R (B,) of `terms`; rows without gradient (GD = 0) get W = 0 and R = 0."""
    gd = terms.a.abs().sum(dim=1)  # (B,)
    safe = gd.clamp_min(torch.finfo(gd.dtype).tiny)[:, None]
    live = (gd > 0)[:, None]
    weights = torch.where(live, terms.a / safe, torch.zeros_like(terms.a))
    ratio = torch.where(live[:, 0], terms.b / safe[:, 0], torch.zeros_like(terms.b))
    return gd, weights, ratio


def negative_weights(sim: Tensor, mask: Tensor, components: Components) -> Tensor:
    """W_ij ∝ exp(s_ij / t) or max(s_ij, 1e-4)^p over the negatives in `mask`; sim, mask: (B, N)."""
    if components.weight_temperature is not None:
        return torch.softmax((sim / components.weight_temperature).masked_fill(~mask, float("-inf")), dim=1)
    kernel = sim.clamp_min(1e-4).pow(components.weight_power).masked_fill(~mask, 0.0)
    return kernel / kernel.sum(dim=1, keepdim=True)


def keeps_gradient(anchors: Tensor, positives: Tensor, hard: Tensor, margin: float) -> Tensor:
    """(B,) True for rows whose positive margin s(h_i, h'_i) − max_j s(h_i, c_j) is below `margin`."""
    candidates = torch.cat([positives, hard])  # (B + K, D): positives first
    sim = anchors @ candidates.T  # (B, B + K)
    own = torch.arange(anchors.size(0), device=anchors.device)
    hardest = sim.index_put((own, own), sim.new_tensor(float("-inf"))).max(dim=1).values
    return sim[own, own] - hardest < margin


def keeps_gradient_within(anchors: Tensor, margin: float) -> Tensor:
    """(B,) True for rows whose margin within their own view, 1 − max_{j≠i} s(h_i, h_j), is below `margin`
    (the authors' `w_gd` mask of the non-contrastive objectives; anchors unit (B, D))."""
    sim = anchors @ anchors.T  # (B, B)
    own = torch.arange(anchors.size(0), device=anchors.device)
    hardest = sim.index_put((own, own), sim.new_tensor(float("-inf"))).max(dim=1).values
    return 1 - hardest < margin


def views(embeddings: list[Tensor]) -> list[tuple[Tensor, Tensor, Tensor]]:
    """(anchors, positives, hard negatives) of each direction: column 0 against column 1 with the hard negatives
    of columns 2.., then column 1 against column 0 alone."""
    first, second, *rest = embeddings
    hard = torch.cat(rest) if rest else first[:0]
    return [(first, second, hard), (second, first, first[:0])]


def surrogate(anchors: Tensor, positives: Tensor, hard: Tensor, terms_fn: TermsFn, components: Components,
              contrastive: bool = True) -> Tensor:
    """Σ_i GD_i [Σ_j W_ij ⟨h_i, n_j⟩ − R_i ⟨h_i, p_i⟩] for one direction; only `anchors` receive gradient.
    `contrastive` chooses the margin's form (see the module's docstring)."""
    h = F.normalize(anchors, dim=-1)  # (B, D)
    p, k = F.normalize(positives.detach(), dim=-1), F.normalize(hard.detach(), dim=-1)
    terms = terms_fn(h.detach(), p, k)
    gd, weights, ratio = decompose(terms)
    sim = h @ terms.negatives.T  # (B, N), differentiable in h
    if components.weight_temperature is not None or components.weight_power is not None:
        weights = negative_weights(sim.detach(), terms.mask, components)
    if components.ratio is not None:
        ratio = torch.full_like(ratio, components.ratio)
    if components.margin is not None and contrastive:
        keep = keeps_gradient(h.detach(), p, k, components.margin).to(gd.dtype)  # (B,)
        gd = keep / (h.size(0) * keep.sum().clamp_min(1))
    elif components.margin is not None:
        gd = gd * keeps_gradient_within(h.detach(), components.margin)
    pull = (weights * sim).sum(dim=1) - ratio * (h * terms.positives).sum(dim=1)  # (B,)
    return (gd * pull).sum()


def with_components(value: Tensor, embeddings: list[Tensor], terms_fn: TermsFn, components: Components,
                    contrastive: bool = True) -> Tensor:
    """`value` itself without components; otherwise `value` whose gradient is the surrogate's (both views).
    `contrastive`: False for the non-contrastive objectives (their margin is measured within one view)."""
    if not components.active:
        return value
    total = sum(surrogate(a, p, k, terms_fn, components, contrastive) for a, p, k in views(embeddings))
    return value.detach() + total - total.detach()


def own_positive(batch: int, candidates: int, device: torch.device) -> Tensor:
    """(B, N) True at column i of row i: the anchor's own positive among candidates [positives; hard negatives]."""
    return torch.eye(batch, candidates, dtype=torch.bool, device=device)
