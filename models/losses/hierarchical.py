"""The hierarchical objective for sentences generated at several similarity levels (NGCSE).

Reference: Li, Zhang, Nie, Liu 2024, "Narrowing the Gap between Supervised and Unsupervised Sentence
Representation Learning with Large Language Model" (AAAI 2024, arXiv 2309.06453; code
github.com/BDBC-KG-NLP/NGCSE). Margins 5e-3 … 5e-2 and β = 1 follow the authors' code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch.nn.functional as F
from torch import Tensor

from embedlab.models.losses.infonce import infonce


def hierarchical(embeddings: list[Tensor], labels: Tensor | None = None, scale: float = 20.0, beta: float = 1.0,
                 level_margins: Sequence[float] = (5e-3, 5e-2), **components: Any) -> Tensor:
    """L = InfoNCE(x, x_p) + β (1/(L−1)) Σ_{l=1}^{L−1} (1/B) Σ_i ReLU(s(x_i, x_{i,l+1}) − s(x_i, x_{i,l}) + m_l).

    As the authors' code (github BDBC-KG-NLP/NGCSE, `ngcse/models.py`, the native loss with `use_loss3`): the
    InfoNCE positive x_p is level 2 when there are three or more levels (`aigen_pos_idx = 2 if aigen_sent_num > 3
    else 1`), level 1 otherwise, with in-batch negatives only; the margin terms are averaged over the L−1 level
    pairs (`loss3 /= aigen_sent_num - 2`). m_l = level_margins[l−1], the last margin repeated for deeper levels.

    Args:
        embeddings: [sentences, level 1, ..., level L], each (B, D), level 1 the most similar, L ≥ 1 (L = 1:
            InfoNCE alone).
        labels: unused. scale: 1/τ of the InfoNCE term. beta: β. level_margins: m_1, m_2, ...
        components: `Components` fields, applied to the InfoNCE term.
    """
    anchors, *levels = (F.normalize(e, dim=-1) for e in embeddings)
    positive = embeddings[2] if len(levels) >= 3 else embeddings[1]
    value = infonce([embeddings[0], positive], None, scale, **components)
    sims = [(anchors * level).sum(dim=1) for level in levels]  # one (B,) per level
    pairs = list(zip(sims, sims[1:]))
    for index, (closer, farther) in enumerate(pairs):
        margin = level_margins[min(index, len(level_margins) - 1)]
        value = value + beta * F.relu(farther - closer + margin).mean() / len(pairs)
    return value
