"""MPT, the margin-based triplet loss on cosine similarity against the hardest in-batch negative.

Reference: as analysed by Li et al. 2024 (arXiv 2402.18281, "MPT"; margin 0.23 in the authors' code).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from embedlab.models.losses.paradigm import Components, Terms, own_positive, with_components


def mpt(embeddings: list[Tensor], labels: Tensor | None = None, scale: float = 20.0, triplet_margin: float = 0.23,
        **components: Any) -> Tensor:
    """L = (1/B) Σ_i ReLU(max_{j≠i} s(h_i, c_j) − s(h_i, h'_i) + m).

    Paradigm: GD_i = 1[s_ii − max_j s_ij < m] (its own dissipation), W one-hot on the hardest negative, R_i = 1.

    Args:
        embeddings: [anchors, positives, hard negatives...], each (B, D).
        labels, scale: unused (one signature for every loss). triplet_margin: m.
        components: `Components` fields.
    """
    anchors, *candidates = embeddings
    sim = F.normalize(anchors, dim=-1) @ F.normalize(torch.cat(candidates), dim=-1).T  # (B, N)
    own = own_positive(sim.size(0), sim.size(1), sim.device)
    value = F.relu(sim.masked_fill(own, float("-inf")).max(dim=1).values - sim[own] + triplet_margin).mean()
    terms = partial(mpt_terms, margin=triplet_margin)
    return with_components(value, embeddings, terms, Components(**components))


def mpt_terms(anchors: Tensor, positives: Tensor, hard: Tensor, margin: float) -> Terms:
    """a_ij* = b_i = 1[row active]/B on the hardest negative j*."""
    candidates = torch.cat([positives, hard])
    batch = anchors.size(0)
    sim = anchors @ candidates.T
    own = own_positive(batch, candidates.size(0), anchors.device)
    hardest = sim.masked_fill(own, float("-inf")).max(dim=1)
    active = (hardest.values - sim[own] + margin > 0).to(sim.dtype) / batch  # (B,)
    a = F.one_hot(hardest.indices, candidates.size(0)).to(sim.dtype) * active[:, None]
    return Terms(candidates, ~own, a, positives, active)
