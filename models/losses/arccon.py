"""ArcCon: InfoNCE with an additive angular margin on the positive, with the paradigm's components as options.

References: Zhang et al. 2022, "A Contrastive Framework for Learning Sentence Representations from Pairwise and
Triple-wise Perspective in Angular Space" (ACL 2022), its pairwise (angular-margin) loss as analysed by
Li et al. 2024 (arXiv 2402.18281, whose code uses the margin 10°).
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from embedlab.models.losses.paradigm import Components, Terms, own_positive, with_components

_EDGE = 1e-6  # cosines are clamped to [-1 + ε, 1 - ε] so that arccos keeps a finite gradient


def arccon(embeddings: list[Tensor], labels: Tensor | None = None, scale: float = 20.0,
           angular_margin: float = math.radians(10), **components: Any) -> Tensor:
    """L = −(1/B) Σ_i log( e^{cos(θ_ii + u)/τ} / (e^{cos(θ_ii + u)/τ} + Σ_{j≠i} e^{cos θ_ij/τ}) ),  θ = arccos s.

    Paradigm: GD_i = (1 − P_ii)/τ, W_ij = softmax_{j≠i}(s_ij/τ), R_i = sin(θ_ii + u) / sin θ_ii (> 1 for small
    angles: the margin strengthens the pull of the positive).

    Args:
        embeddings: [anchors, positives, hard negatives...], each (B, D).
        labels: unused. scale: 1/τ. angular_margin: u in radians.
        components: `Components` fields.
    """
    anchors, *candidates = embeddings
    logits = _logits(F.normalize(anchors, dim=-1), F.normalize(torch.cat(candidates), dim=-1), angular_margin)
    value = F.cross_entropy(logits * scale, torch.arange(anchors.size(0), device=anchors.device))
    terms = partial(arccon_terms, scale=scale, margin=angular_margin)
    return with_components(value, embeddings, terms, Components(**components))


def _logits(anchors: Tensor, candidates: Tensor, margin: float) -> Tensor:
    """(B, N) cosines, the anchor's own positive replaced by cos(θ + u)."""
    sim = (anchors @ candidates.T).clamp(-1 + _EDGE, 1 - _EDGE)
    own = own_positive(anchors.size(0), candidates.size(0), anchors.device)
    return torch.where(own, torch.cos(torch.arccos(sim) + margin), sim)


def arccon_terms(anchors: Tensor, positives: Tensor, hard: Tensor, scale: float, margin: float) -> Terms:
    """a_ij = P_ij/(τB) for j ≠ i, b_i = (1 − P_ii) sin(θ_ii + u) / (τB sin θ_ii)."""
    candidates = torch.cat([positives, hard])
    batch = anchors.size(0)
    own = own_positive(batch, candidates.size(0), anchors.device)
    probs = torch.softmax(_logits(anchors, candidates, margin) * scale, dim=1)  # (B, N)
    theta = torch.arccos((anchors * positives).sum(dim=1).clamp(-1 + _EDGE, 1 - _EDGE))  # (B,)
    a = probs.masked_fill(own, 0.0) * scale / batch
    b = (1 - probs[own]) * torch.sin(theta + margin) / torch.sin(theta) * scale / batch
    return Terms(candidates, ~own, a, positives, b)
