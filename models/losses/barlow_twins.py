"""Barlow Twins as the authors of the unified paradigm train it: its gradient surrogate on unit embeddings.

References: Zbontar et al. 2021, "Barlow Twins: Self-Supervised Learning via Redundancy Reduction"
(ICML 2021, arXiv 2103.03230); paradigm, surrogate and modified version: Li et al. 2024 (arXiv 2402.18281), whose
code (github BDBC-KG-NLP/UnderstandingCSE, isotropy/models.py, `_bt_loss`; scripts/application/*/barlowtwins.sh:
λ = 30) trains this surrogate, not the original loss with batch standardisation.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from embedlab.models.losses.paradigm import Components, Terms, with_components


def barlow_twins(embeddings: list[Tensor], labels: Tensor | None = None, scale: float = 20.0, lam: float = 30.0,
                 **components: Any) -> Tensor:
    """L = ℓ(z, z') + ℓ(z', z) on unit embeddings, the authors' `_bt_loss` without components:

        ℓ(u, v) = Σ_i [ −Σ_d π_d u_id sg(v_id) + λ Σ_j (2 sg(v_i·v_j) / B²) ⟨u_i, sg(u_j)⟩ ],
        π_d = (1 − (1 − λ) C_dd) · 2/B,  C = sg(u)ᵀ sg(v) / B  (D, D).

    Paradigm: negatives are the other anchors of the same view, a_ij = 2λ s(h'_i, h'_j) / B² (weights linear in
    the other view's similarity, possibly negative), the pull is π ⊙ h'_i (b_i its norm), no dissipation.

    Args:
        embeddings: [first view, second view, ...], each (B, D); further columns are ignored.
        labels, scale: unused. lam: λ (the authors' 30 for the plain objective).
        components: `Components` fields; all three give the paper's modified Barlow Twins.
    """
    first, second = (F.normalize(e, dim=-1) for e in embeddings[:2])
    value = _surrogate(first, second, lam) + _surrogate(second, first, lam)
    return with_components(value, embeddings[:2], partial(barlow_twins_terms, lam=lam), Components(**components),
                           contrastive=False)


def _pull(anchors: Tensor, positives: Tensor, lam: float) -> Tensor:
    """(B, D) π ⊙ v_i with π_d = (1 − (1 − λ) C_dd) · 2/B, C = uᵀ v / B (inputs detached)."""
    batch = anchors.size(0)
    corr_diagonal = (anchors * positives).sum(dim=0) / batch  # (D,): C_dd
    return (1 - (1 - lam) * corr_diagonal) * 2 / batch * positives


def _surrogate(u: Tensor, v: Tensor, lam: float) -> Tensor:
    batch = u.size(0)
    weight = 2 * (v.detach() @ v.detach().T) / batch**2  # (B, B)
    negatives = (weight * (u @ u.detach().T)).sum(dim=1)
    positives = -(u * _pull(u.detach(), v.detach(), lam)).sum(dim=1)
    return (positives + lam * negatives).sum()


def barlow_twins_terms(anchors: Tensor, positives: Tensor, hard: Tensor, lam: float) -> Terms:
    batch = anchors.size(0)
    others = ~torch.eye(batch, dtype=torch.bool, device=anchors.device)
    a = (positives @ positives.T).masked_fill(~others, 0.0) * 2 * lam / batch**2
    pull = _pull(anchors, positives, lam)  # (B, D)
    b = pull.norm(dim=1)
    return Terms(anchors, others, a, pull / b.clamp_min(1e-12)[:, None], b)
