"""CoSENT loss: a ranking loss on the cosine similarities of scored sentence pairs.

Reference: Huang et al. 2024, "CoSENT: Consistent Sentence Embedding via Similarity Ranking" (IEEE/ACM TASLP;
https://penghao-bdsc.github.io/papers/CoSENT_TASLP2024.pdf). Matches sentence-transformers' `CoSENTLoss`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def cosent(embeddings: list[Tensor], labels: Tensor | None = None, scale: float = 20.0) -> Tensor:
    """log(1 + sum over pairs (i, j) with label_i > label_j of exp(scale * (cos_j - cos_i))).

    Args:
        embeddings: [first sentences, second sentences], each (B, D).
        labels: gold similarity of each pair, (B,) (any monotone scale; only the order matters).
        scale: inverse temperature applied to cosine similarities.

    Returns:
        scalar loss.
    """
    if labels is None:
        raise ValueError("cosent needs a similarity score per pair")
    first, second = embeddings
    cos = F.cosine_similarity(first, second, dim=-1).float() * scale  # (B,)
    diff = cos[None, :] - cos[:, None]  # (B, B): diff[i, j] = cos_j - cos_i
    ranked = labels.view(-1)[:, None] > labels.view(-1)[None, :]  # (B, B): pair i should score above pair j
    diff = diff.masked_fill(~ranked, float("-inf")).reshape(-1)
    return torch.logsumexp(torch.cat([diff.new_zeros(1), diff]), dim=0)
