"""Alignment + uniformity ("MHE", minimum hyperspherical energy) as the authors of the unified paradigm train it.

References: Wang & Isola 2020, "Understanding Contrastive Representation Learning through Alignment and Uniformity
on the Hypersphere" (ICML 2020, arXiv 2005.10242); paradigm and its modified version: Li et al. 2024
(arXiv 2402.18281), whose code (github BDBC-KG-NLP/UnderstandingCSE, isotropy/models.py, branch `mhe`;
scripts/application/*/mhe.sh: λ = 10) uses the log-sum-exp of cosine similarities over the batch's pairs.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from embedlab.models.losses.paradigm import Components, Terms, with_components


def align_uniform(embeddings: list[Tensor], labels: Tensor | None = None, scale: float = 20.0, lam: float = 10.0,
                  t: float = 1.0, **components: Any) -> Tensor:
    """L = λ (U(h) + U(h')) + (1/B) Σ_i (2 − 2 s(h_i, h'_i)),  U(x) = log Σ_{i<j} exp(s(x_i, x_j) / t).

    Paradigm (exact; negatives are the other anchors of the same view): a_ij = (λ/t) π_ij with π the softmax of
    s/t over the B(B−1)/2 unordered pairs, b_i = 2/B. So W_ij = softmax_{j≠i}(s_ij / t), GD_i = (λ/t) Σ_j π_ij
    (no dissipation as the positive aligns), R_i = 2/(B GD_i) (≈ 1/λ when the batch is spread evenly: a weak
    pull, the paper's diagnosis).

    Args:
        embeddings: [first view, second view, ...], each (B, D); further columns are ignored.
        labels, scale: unused. lam: λ (the authors' 10). t: the temperature of the similarities (their 1).
        components: `Components` fields; all three give the paper's modified alignment + uniformity.
    """
    first, second = (F.normalize(e, dim=-1) for e in embeddings[:2])
    alignment = (2 - 2 * (first * second).sum(dim=1)).mean()
    value = lam * (_uniformity(first, t) + _uniformity(second, t)) + alignment
    terms = partial(align_uniform_terms, lam=lam, t=t)
    return with_components(value, embeddings[:2], terms, Components(**components), contrastive=False)


def _pairs(x: Tensor, t: float) -> Tensor:
    """The B(B−1)/2 values s(x_i, x_j) / t, i > j."""
    rows, columns = torch.tril_indices(x.size(0), x.size(0), offset=-1, device=x.device)
    return (x[rows] * x[columns]).sum(dim=1) / t


def _uniformity(x: Tensor, t: float) -> Tensor:
    return torch.logsumexp(_pairs(x, t), dim=0)


def align_uniform_terms(anchors: Tensor, positives: Tensor, hard: Tensor, lam: float, t: float) -> Terms:
    """Negatives: the anchors themselves (N = B), mask off the diagonal."""
    batch = anchors.size(0)
    others = ~torch.eye(batch, dtype=torch.bool, device=anchors.device)
    rows, columns = torch.tril_indices(batch, batch, offset=-1, device=anchors.device)
    share = torch.softmax(_pairs(anchors, t), dim=0)  # (B(B-1)/2,)
    pi = anchors.new_zeros(batch, batch).index_put((rows, columns), share).index_put((columns, rows), share)
    return Terms(anchors, others, lam / t * pi, positives, anchors.new_full((batch,), 2 / batch))
