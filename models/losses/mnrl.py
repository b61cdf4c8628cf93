"""Multiple-negatives ranking loss (InfoNCE with in-batch and optional hard negatives).

References: van den Oord et al. 2018, "Representation Learning with Contrastive Predictive Coding"
(arXiv 1807.03748); Henderson et al. 2017, "Efficient Natural Language Response Suggestion for Smart Reply"
(arXiv 1705.00652). Matches sentence-transformers' `MultipleNegativesRankingLoss` (default settings).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def mnrl(embeddings: list[Tensor], labels: Tensor | None = None, scale: float = 20.0) -> Tensor:
    """Cross-entropy of each anchor against every candidate in the batch; its own positive is the target.

    Args:
        embeddings: [anchors, positives, negatives_1, ..., negatives_k], each (B, D). Candidates are all
            positives and negatives of the batch: (B * (1 + k), D).
        labels: optional group ids (B, 1 + 1 + k), one per embedding of each row (e.g. the intent of a text).
            A candidate in the anchor's group, other than its own positive, is not a negative and is
            left out of the softmax (the supervised-contrastive reading of in-batch negatives).
        scale: inverse temperature applied to cosine similarities (20 = temperature 0.05).

    Returns:
        scalar loss, the mean over anchors.
    """
    anchors, *candidates = embeddings
    batch = anchors.size(0)
    docs = torch.cat(candidates, dim=0)  # (B * (1 + k), D): positives first, then each negative column
    scores = F.normalize(anchors, dim=-1) @ F.normalize(docs, dim=-1).T * scale  # (B, B * (1 + k))
    target = torch.arange(batch, device=anchors.device)
    if labels is not None:
        doc_groups = labels[:, 1:].T.reshape(-1)  # (B * (1 + k),) in the order of `docs`
        same_group = labels[:, :1] == doc_groups[None, :]  # (B, B * (1 + k))
        same_group[target, target] = False  # the anchor's own positive stays the target
        scores = scores.masked_fill(same_group, float("-inf"))
    return F.cross_entropy(scores, target)
