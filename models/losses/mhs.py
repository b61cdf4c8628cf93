"""MHS (minimum hyperspherical separation), a non-contrastive objective of the unified paradigm's paper.

Reference: Li et al. 2024, "Towards Better Understanding of Contrastive Sentence Representation Learning"
(ACL 2024, arXiv 2402.18281); the authors' code (github BDBC-KG-NLP/UnderstandingCSE, isotropy/models.py, branch
`mhs`; scripts/application/*/mhs.sh: λ = 1) pushes each anchor away from its nearest non-positive sample of the
other view and pulls it to its positive.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from embedlab.models.losses.paradigm import Components, Terms, own_positive, with_components

EPS = 1e-4  # inside the square root of the distance, as the authors'


def mhs(embeddings: list[Tensor], labels: Tensor | None = None, scale: float = 20.0, lam: float = 1.0,
        **components: Any) -> Tensor:
    """L = λ [(1/B) Σ_i −d_i(h, h') + (1/B) Σ_i −d_i(h', h)] + (1/B) Σ_i (2 − 2 s(h_i, h'_i)),
    d_i(u, v) = min_{j≠i} sqrt(‖u_i − sg(v_j)‖² + 1e-4): the distance to the nearest non-positive of the other view.

    Paradigm: one negative per row, the nearest j*, a_ij* = λ / (B d_i), b_i = 2/B; no dissipation.

    Args:
        embeddings: [first view, second view, ...], each (B, D); further columns are ignored.
        labels, scale: unused. lam: λ (the authors' 1).
        components: `Components` fields; margin and ratio give the paper's modified MHS (`w_gd`, `w_r`).
    """
    first, second = (F.normalize(e, dim=-1) for e in embeddings[:2])
    alignment = (2 - 2 * (first * second).sum(dim=1)).mean()
    value = lam * (-_nearest(first, second).mean() - _nearest(second, first).mean()) + alignment
    return with_components(value, embeddings[:2], partial(mhs_terms, lam=lam), Components(**components),
                           contrastive=False)


def _nearest(u: Tensor, v: Tensor) -> Tensor:
    """(B,) min_{j≠i} sqrt(‖u_i − sg(v_j)‖² + 1e-4)."""
    distance = (u[:, None] - v.detach()[None]).pow(2).sum(dim=-1).add(EPS).sqrt()  # (B, B)
    own = own_positive(u.size(0), v.size(0), u.device)
    return distance.masked_fill(own, float("inf")).min(dim=1).values


def mhs_terms(anchors: Tensor, positives: Tensor, hard: Tensor, lam: float) -> Terms:
    """Negatives: the other view's samples (N = B), mask off the diagonal; weight on the nearest only."""
    batch = anchors.size(0)
    own = own_positive(batch, batch, anchors.device)
    distance = (2 - 2 * anchors @ positives.T).clamp_min(0).add(EPS).sqrt().masked_fill(own, float("inf"))
    nearest = distance.min(dim=1)
    a = F.one_hot(nearest.indices, batch).to(anchors.dtype) * (lam / (batch * nearest.values))[:, None]
    return Terms(positives, ~own, a, positives, anchors.new_full((batch,), 2 / batch))
