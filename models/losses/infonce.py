"""InfoNCE (SimCSE's objective) with the unified paradigm's components as options.

References: van den Oord et al. 2018, "Representation Learning with Contrastive Predictive Coding"
(arXiv 1807.03748); Gao et al. 2021, "SimCSE" (arXiv 2104.08821); paradigm: Li et al. 2024 (arXiv 2402.18281).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from torch import Tensor

from embedlab.models.losses.mnrl import mnrl
from embedlab.models.losses.paradigm import Components, Terms, own_positive, with_components


def infonce(embeddings: list[Tensor], labels: Tensor | None = None, scale: float = 20.0, **components: Any) -> Tensor:
    """L = −(1/B) Σ_i log( exp(s(h_i, h'_i)/τ) / Σ_j exp(s(h_i, c_j)/τ) ),  τ = 1/scale.

    Paradigm: GD_i = (1 − P_ii)/τ, W_ij = softmax_{j≠i}(s(h_i, c_j)/τ), R_i = 1, P the row softmax.

    Args:
        embeddings: [anchors, positives, hard negatives...], each (B, D); candidates c: positives then negatives.
        labels: unused (one signature for every loss).
        scale: 1/τ (20 = SimCSE's τ 0.05).
        components: `Components` fields (margin, weight_temperature, weight_power, ratio).
    """
    value = mnrl(embeddings, None, scale)
    return with_components(value, embeddings, partial(infonce_terms, scale=scale), Components(**components))


def infonce_terms(anchors: Tensor, positives: Tensor, hard: Tensor, scale: float) -> Terms:
    """a_ij = P_ij/(τB) for j ≠ i, b_i = (1 − P_ii)/(τB); inputs unit (B, D), (B, D), (K, D)."""
    candidates = torch.cat([positives, hard])  # (N, D), N = B + K
    batch = anchors.size(0)
    probs = torch.softmax(anchors @ candidates.T * scale, dim=1)  # (B, N)
    own = own_positive(batch, candidates.size(0), anchors.device)
    a = probs.masked_fill(own, 0.0) * scale / batch
    b = (1 - probs[own]) * scale / batch
    return Terms(candidates, ~own, a, positives, b)
