"""Combiners: a reference image's and a modification text's embeddings -> one composed query.

Both take L2-normalised (B, D) embeddings r (the image tower's, of the reference) and t (the text tower's, of
the modification text) and return an L2-normalised (B, D) query, scored against target images by cosine.
- `sum`: q = normalise(r + t), SPN4CIR's query (paper 6, arXiv 2404.11317); no parameters.
- `mlp`: q = normalise(r + t + MLP([r; t])), a learned residual on the sum (two layers of width 2D, the last
  zero-initialised so that training starts from the sum); a small learned combiner in the spirit of CLIP4Cir
  (Baldrati et al. 2022, arXiv 2203.15779).
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from embedlab.errors import unknown_name


class Combiner(nn.Module):
    name: ClassVar[str]

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, references: Tensor, texts: Tensor) -> Tensor:
        raise NotImplementedError


class SumCombiner(Combiner):
    name = "sum"

    def forward(self, references: Tensor, texts: Tensor) -> Tensor:
        """(B, D), (B, D) -> (B, D) normalise(r + t)."""
        return F.normalize(references + texts, dim=-1)


class MlpCombiner(Combiner):
    name = "mlp"

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.mlp = nn.Sequential(nn.Linear(2 * dim, 2 * dim), nn.ReLU(), nn.Linear(2 * dim, dim))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, references: Tensor, texts: Tensor) -> Tensor:
        """(B, D), (B, D) -> (B, D) normalise(r + t + MLP([r; t]))."""
        residual = self.mlp(torch.cat([references, texts], dim=-1))  # (B, 2D) -> (B, D)
        return F.normalize(references + texts + residual, dim=-1)


COMBINERS: dict[str, type[Combiner]] = {combiner.name: combiner for combiner in (SumCombiner, MlpCombiner)}


def build_combiner(name: str, dim: int) -> Combiner:
    """The combiner registered as `name` for D = `dim`; UserError with a "did you mean" otherwise."""
    if name not in COMBINERS:
        raise unknown_name("combiner", name, COMBINERS)
    return COMBINERS[name](dim)
