"""Barlow Twins, a non-contrastive objective (redundancy reduction), with the paradigm's components.

References: Zbontar et al. 2021, "Barlow Twins: Self-Supervised Learning via Redundancy Reduction"
(ICML 2021, arXiv 2103.03230); paradigm and its modified version: Li et al. 2024 (arXiv 2402.18281).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from torch import Tensor

from embedlab.models.losses.paradigm import Components, Terms, with_components


def barlow_twins(embeddings: list[Tensor], labels: Tensor | None = None, scale: float = 20.0,
                 redundancy_weight: float = 5e-3, **components: Any) -> Tensor:
    """L = Σ_d (1 − C_dd)² + λ Σ_{d≠e} C_de²,  C = z̃ᵀ z̃' / B (D, D), z̃ each feature standardised over the batch.

    Paradigm (the paper's reading of its gradient, as in the authors' code: unit embeddings without batch
    standardisation, the diagonal pull taken as 1): negatives are the other anchors of the same view,
    a_ij = 2λ s(h'_i, h'_j) / B², b_i = 2/B. Its weights are linear in similarity (and may be negative), it has
    no dissipation, and its ratio is large for small λ.

    Args:
        embeddings: [first view, second view, ...], each (B, D); further columns are ignored.
        labels, scale: unused. redundancy_weight: λ (the paper's 5e-3).
        components: `Components` fields; all three give the paper's modified Barlow Twins.
    """
    first, second = (_standardise(e) for e in embeddings[:2])
    corr = first.T @ second / first.size(0)  # (D, D)
    diagonal = torch.diagonal(corr)
    value = (1 - diagonal).pow(2).sum() + redundancy_weight * (corr.pow(2).sum() - diagonal.pow(2).sum())
    terms = partial(barlow_twins_terms, redundancy_weight=redundancy_weight)
    return with_components(value, embeddings[:2], terms, Components(**components))


def _standardise(x: Tensor) -> Tensor:
    """(B, D) features with zero mean and unit variance over the batch (batch norm without affine)."""
    return (x - x.mean(dim=0)) / x.std(dim=0, unbiased=False).clamp_min(1e-6)


def barlow_twins_terms(anchors: Tensor, positives: Tensor, hard: Tensor, redundancy_weight: float) -> Terms:
    batch = anchors.size(0)
    others = ~torch.eye(batch, dtype=torch.bool, device=anchors.device)
    a = (positives @ positives.T).masked_fill(~others, 0.0) * 2 * redundancy_weight / batch**2
    return Terms(anchors, others, a, positives, anchors.new_full((batch,), 2 / batch))
