"""MET, the margin-based triplet loss on Euclidean distance against the hardest in-batch negative.

Reference: as analysed by Li et al. 2024 (arXiv 2402.18281, "MET"; margin 0.45 in the authors' code), after
Schroff et al. 2015, "FaceNet" (arXiv 1503.03832).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from embedlab.models.losses.paradigm import Components, Terms, own_positive, with_components

_MIN_SQUARED = 1e-4  # d = sqrt(max(2 − 2s, 1e-4)): finite gradient for identical views


def met(embeddings: list[Tensor], labels: Tensor | None = None, scale: float = 20.0, triplet_margin: float = 0.45,
        **components: Any) -> Tensor:
    """L = (1/B) Σ_i ReLU(d(h_i, h'_i) − min_{j≠i} d(h_i, c_j) + m),  d = ‖h − c‖ = sqrt(2 − 2s) on unit vectors.

    Paradigm: GD_i = 1[row active] / d_ij*, W one-hot on the nearest negative j*, R_i = d_ij* / d_ii (> 1).

    Args:
        embeddings: [anchors, positives, hard negatives...], each (B, D).
        labels, scale: unused. triplet_margin: m.
        components: `Components` fields.
    """
    anchors, *candidates = embeddings
    dist = _distances(F.normalize(anchors, dim=-1), F.normalize(torch.cat(candidates), dim=-1))  # (B, N)
    own = own_positive(dist.size(0), dist.size(1), dist.device)
    value = F.relu(dist[own] - dist.masked_fill(own, float("inf")).min(dim=1).values + triplet_margin).mean()
    terms = partial(met_terms, margin=triplet_margin)
    return with_components(value, embeddings, terms, Components(**components))


def _distances(anchors: Tensor, candidates: Tensor) -> Tensor:
    return (2 - 2 * anchors @ candidates.T).clamp_min(_MIN_SQUARED).sqrt()


def met_terms(anchors: Tensor, positives: Tensor, hard: Tensor, margin: float) -> Terms:
    """a_ij* = 1[active]/(B d_ij*), b_i = 1[active]/(B d_ii)."""
    candidates = torch.cat([positives, hard])
    batch = anchors.size(0)
    dist = _distances(anchors, candidates)
    own = own_positive(batch, candidates.size(0), anchors.device)
    nearest = dist.masked_fill(own, float("inf")).min(dim=1)
    active = (dist[own] - nearest.values + margin > 0).to(dist.dtype) / batch  # (B,)
    a = F.one_hot(nearest.indices, candidates.size(0)).to(dist.dtype) * (active / nearest.values)[:, None]
    return Terms(candidates, ~own, a, positives, active / dist[own])
