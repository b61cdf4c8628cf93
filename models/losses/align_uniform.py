"""Alignment + uniformity on the hypersphere, a non-contrastive objective, with the paradigm's components.

References: Wang & Isola 2020, "Understanding Contrastive Representation Learning through Alignment and Uniformity
on the Hypersphere" (ICML 2020, arXiv 2005.10242); paradigm and its modified version: Li et al. 2024
(arXiv 2402.18281; the authors' code calls its variant "mhe").
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from embedlab.models.losses.paradigm import Components, Terms, with_components


def align_uniform(embeddings: list[Tensor], labels: Tensor | None = None, scale: float = 20.0,
                  uniformity_weight: float = 1.0, t: float = 2.0, **components: Any) -> Tensor:
    """L = (1/B) Σ_i ‖h_i − h'_i‖² + (λ/2) (U(h) + U(h')),  U(x) = log mean_{i≠j} exp(−t ‖x_i − x_j‖²).

    Paradigm (exact; negatives are the other anchors of the same view): a_ij = 2λt π_ij with
    π_ij = e^{2t s(h_i,h_j)} / Σ_{k≠l} e^{2t s(h_k,h_l)}, b_i = 2/B. So W_ij = softmax_{j≠i}(2t s_ij) (temperature
    1/(2t)), GD_i = 2λt Σ_j π_ij (no dissipation as the positive aligns), R_i = 2/(B GD_i) (≈ 1/λ when the
    batch is spread evenly: a weak pull, the paper's diagnosis).

    Args:
        embeddings: [first view, second view, ...], each (B, D); further columns are ignored.
        labels, scale: unused. uniformity_weight: λ. t: the uniformity kernel's scale.
        components: `Components` fields; all three give the paper's modified alignment + uniformity.
    """
    first, second = (F.normalize(e, dim=-1) for e in embeddings[:2])
    alignment = (first - second).pow(2).sum(dim=1).mean()
    uniformity = (_uniformity(first, t) + _uniformity(second, t)) / 2
    value = alignment + uniformity_weight * uniformity
    terms = partial(align_uniform_terms, uniformity_weight=uniformity_weight, t=t)
    return with_components(value, embeddings[:2], terms, Components(**components))


def _uniformity(x: Tensor, t: float) -> Tensor:
    return torch.pdist(x).pow(2).mul(-t).exp().mean().log()


def align_uniform_terms(anchors: Tensor, positives: Tensor, hard: Tensor, uniformity_weight: float,
                        t: float) -> Terms:
    """Negatives: the anchors themselves (N = B), mask off the diagonal."""
    batch = anchors.size(0)
    others = ~torch.eye(batch, dtype=torch.bool, device=anchors.device)
    logits = (anchors @ anchors.T * 2 * t).masked_fill(~others, float("-inf"))  # (B, B)
    pi = torch.softmax(logits.reshape(-1), dim=0).reshape(batch, batch)  # over ordered pairs k ≠ l
    return Terms(anchors, others, 2 * uniformity_weight * t * pi, positives, anchors.new_full((batch,), 2 / batch))
