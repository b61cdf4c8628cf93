"""Scoring composed image retrieval: the rank of each query's target among the gallery with the query's own
reference image left out (paper 6 reports R@1/5/10/50; CIRR and FashionIQ's protocols also remove the reference).
Exact: every query is scored against every gallery image by the shared dense retriever."""

from __future__ import annotations

import torch
from torch import Tensor

from embedlab.models.retrieval.dense import DenseRetriever
from embedlab.models.retrieval.ranks import target_ranks as ranks_of

K_VALUES = (1, 5, 10, 50)


def target_ranks(queries: Tensor, gallery: Tensor, targets: Tensor, references: Tensor,
                 block: int = 1024) -> Tensor:
    """(Q,) 1-based rank of gallery row targets[q] for query q, gallery row references[q] left out.

    queries: (Q, D) and gallery: (N, D), L2-normalised; targets, references: (Q,) long rows of `gallery`.
    Ties go to the lower row. Searched `block` queries at a time: memory O(block × N).
    """
    ranks = ranks_of(DenseRetriever.build(gallery), queries, targets.cpu().numpy(), references.cpu().numpy(), block)
    return torch.from_numpy(ranks)
