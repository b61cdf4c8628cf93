"""VICReg as the authors of the unified paradigm train it: its gradient surrogate on unit embeddings.

References: Bardes, Ponce, LeCun 2022, "VICReg: Variance-Invariance-Covariance Regularization for
Self-Supervised Learning" (ICLR 2022, arXiv 2105.04906); paradigm, surrogate and modified version: Li et al. 2024
(arXiv 2402.18281), whose code (github BDBC-KG-NLP/UnderstandingCSE, isotropy/models.py, `_vicreg_loss`;
scripts/application/*/vicreg.sh: λ = 30) trains this surrogate (the covariance term without centring, the
variance term left out), not the original loss.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from embedlab.models.losses.paradigm import Components, Terms, with_components


def vicreg(embeddings: list[Tensor], labels: Tensor | None = None, scale: float = 20.0, lam: float = 30.0,
           **components: Any) -> Tensor:
    """L = ℓ(z, z') + ℓ(z', z) on unit embeddings, the authors' `_vicreg_loss` without components:

        ℓ(u, v) = Σ_i [ −(2/B) ⟨u_i, sg(v_i)⟩ + λ Σ_j (2 sg(u_i·u_j) / B²) ⟨u_i, sg(u_j)⟩ ].

    Paradigm: negatives are the other anchors of the same view, a_ij = 2λ s(h_i, h_j) / B², b_i = 2/B; weights
    linear in similarity, no dissipation.

    Args:
        embeddings: [first view, second view, ...], each (B, D); further columns are ignored.
        labels, scale: unused. lam: λ (the authors' 30 for the plain objective).
        components: `Components` fields; all three give the paper's modified VICReg.
    """
    first, second = (F.normalize(e, dim=-1) for e in embeddings[:2])
    value = _surrogate(first, second, lam) + _surrogate(second, first, lam)
    return with_components(value, embeddings[:2], partial(vicreg_terms, lam=lam), Components(**components),
                           contrastive=False)


def _surrogate(u: Tensor, v: Tensor, lam: float) -> Tensor:
    batch = u.size(0)
    weight = 2 * (u.detach() @ u.detach().T) / batch**2  # (B, B)
    negatives = (weight * (u @ u.detach().T)).sum(dim=1)
    positives = -(u * v.detach()).sum(dim=1) * 2 / batch
    return (positives + lam * negatives).sum()


def vicreg_terms(anchors: Tensor, positives: Tensor, hard: Tensor, lam: float) -> Terms:
    batch = anchors.size(0)
    others = ~torch.eye(batch, dtype=torch.bool, device=anchors.device)
    a = (anchors @ anchors.T).masked_fill(~others, 0.0) * 2 * lam / batch**2
    return Terms(anchors, others, a, positives, anchors.new_full((batch,), 2 / batch))
