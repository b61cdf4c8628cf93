"""The two training losses of SPN4CIR (paper 6, Feng et al. 2024, arXiv 2404.11317), pure functions of
L2-normalised embeddings.

- Stage 1 (`in_batch_loss`): the usual contrastive loss of composed image retrieval — each composed query
  against the B target images of its batch, its own target positive (as CLIP4Cir, arXiv 2203.15779).
- Stage 2 (`bank_loss`): the image tower frozen, each query against a static bank of the normalised features of
  every gallery image (the paper's "scaled negatives"), τ = 0.02.

Both are one cross-entropy over cosine similarities divided by τ (`contrastive_loss`). Candidates that are the
same image as the positive (a target twice in one batch) are never negatives, and with `reference_ids` the
query's own reference image is left out too, since evaluation leaves it out of the gallery.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def contrastive_loss(queries: Tensor, candidates: Tensor, positives: Tensor, temperature: float,
                     mask: Tensor | None = None) -> Tensor:
    """L = −(1/B) Σ_i log( exp(s(q_i, c_{p_i})/τ) / Σ_{j: ¬mask[i, j]} exp(s(q_i, c_j)/τ) ).

    Args:
        queries: (B, D) and candidates: (N, D), L2-normalised (s is their dot product).
        positives: (B,) long, the row of q_i's positive in `candidates`.
        temperature: τ.
        mask: (B, N) bool, True where candidate j is left out of q_i's softmax (never at q_i's positive).
    Returns:
        scalar loss.
    """
    logits = queries @ candidates.T / temperature  # (B, N)
    if mask is not None:
        logits = logits.masked_fill(mask, float("-inf"))
    return F.cross_entropy(logits, positives)


def in_batch_loss(queries: Tensor, targets: Tensor, temperature: float, target_ids: Tensor,
                  reference_ids: Tensor | None = None) -> Tensor:
    """Stage 1: query i against the batch's targets, target i positive, the others negatives.

    Args:
        queries: (B, D) composed queries and targets: (B, D) their target images' embeddings, L2-normalised.
        target_ids: (B,) long image ids of the targets: a target that is the same image as target i is left out
            of query i's negatives. reference_ids: (B,) long image ids of the references (same id space); a target
            that is query i's reference image is left out of its negatives. None: references stay in.
    """
    batch = queries.size(0)
    own = torch.eye(batch, dtype=torch.bool, device=queries.device)  # (B, B)
    left_out = target_ids[None, :] == target_ids[:, None]  # (B, B): same target image
    if reference_ids is not None:
        left_out |= target_ids[None, :] == reference_ids[:, None]  # (B, B): the query's reference image
    positives = torch.arange(batch, device=queries.device)
    return contrastive_loss(queries, targets, positives, temperature, left_out & ~own)


def bank_loss(queries: Tensor, bank: Tensor, target_rows: Tensor, temperature: float = 0.02,
              reference_rows: Tensor | None = None) -> Tensor:
    """Stage 2: query i against every image of the static bank, its target's row positive.

    Args:
        queries: (B, D) composed queries, L2-normalised; bank: (N, D) L2-normalised features of the gallery images
            (the frozen image tower's; no gradient flows into it).
        target_rows: (B,) long, the bank row of each query's target.
        reference_rows: (B,) long, the bank row of each query's reference image, left out of its negatives;
            None: the whole bank.
    """
    mask = None
    if reference_rows is not None:
        mask = torch.zeros(queries.size(0), bank.size(0), dtype=torch.bool, device=queries.device)  # (B, N)
        mask[torch.arange(queries.size(0), device=queries.device), reference_rows] = True
        mask[torch.arange(queries.size(0), device=queries.device), target_rows] = False
    return contrastive_loss(queries, bank.detach(), target_rows, temperature, mask)
