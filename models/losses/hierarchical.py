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
    """L = InfoNCE(x, x_1) + β Σ_{l=1}^{L−1} (1/B) Σ_i ReLU(s(x_i, x_{i,l+1}) − s(x_i, x_{i,l}) + m_l).

    Level 1 is the most similar sample and the InfoNCE positive (in-batch negatives only) [open: the authors'
    code also tries level 2 of 3]; m_l = level_margins[l−1], the last margin repeated for deeper levels. The sum
    over levels follows the paper's formula (the authors' code averages it).

    Args:
        embeddings: [sentences, level 1, ..., level L], each (B, D), L ≥ 1 (L = 1: InfoNCE alone).
        labels: unused. scale: 1/τ of the InfoNCE term. beta: β. level_margins: m_1, m_2, ...
        components: `Components` fields, applied to the InfoNCE term.
    """
    anchors, *levels = (F.normalize(e, dim=-1) for e in embeddings)
    value = infonce(list(embeddings[:2]), None, scale, **components)
    sims = [(anchors * level).sum(dim=1) for level in levels]  # one (B,) per level
    for index, (closer, farther) in enumerate(zip(sims, sims[1:])):
        margin = level_margins[min(index, len(level_margins) - 1)]
        value = value + beta * F.relu(farther - closer + margin).mean()
    return value
