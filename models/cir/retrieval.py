"""Scoring composed image retrieval: the rank of each query's target among the gallery with the query's own
reference image left out, and Recall@K (paper 6 reports R@1/5/10/50; CIRR and FashionIQ's protocols also remove
the reference). Exact: every query is scored against every gallery image."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

K_VALUES = (1, 5, 10, 50)


def target_ranks(queries: Tensor, gallery: Tensor, targets: Tensor, references: Tensor,
                 block: int = 1024) -> Tensor:
    """(Q,) 1-based rank of gallery row targets[q] for query q, gallery row references[q] left out.

    queries: (Q, D) and gallery: (N, D), L2-normalised; targets, references: (Q,) long rows of `gallery`.
    Ties go to the lower row (as faiss orders them). Computed `block` queries at a time: memory O(block × N).
    """
    ranks = []
    columns = torch.arange(gallery.size(0))
    for start in range(0, queries.size(0), block):
        scores = queries[start:start + block] @ gallery.T  # (b, N)
        rows = torch.arange(scores.size(0))
        target, reference = targets[start:start + block], references[start:start + block]
        own = scores[rows, target][:, None]  # (b, 1)
        ahead = (scores > own) | ((scores == own) & (columns[None, :] < target[:, None]))  # (b, N)
        ahead[rows, reference] = False
        ranks.append(ahead.sum(dim=1) + 1)
    return torch.cat(ranks)


def recall_at_k(ranks: Tensor, k_values: Sequence[int] = K_VALUES) -> dict[str, float]:
    """{"recall_at_<k>": share of queries whose target ranks within the top k} for each k."""
    return {f"recall_at_{k}": float((ranks <= k).double().mean()) for k in k_values}
