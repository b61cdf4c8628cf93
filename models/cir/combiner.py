"""Combiners: a reference image's and a modification text's embeddings -> one composed query.

Each takes (B, D) embeddings r (the image tower's, of the reference) and t (the text tower's, of the modification
text) and returns an L2-normalised (B, D) query, scored against the normalised target images by cosine. r and t
are the towers' raw projections by default, as in the authors' code (BUAADreamer/SPN4CIR, clip4cir/models.py:
`CIRPlus.element_wise_sum` adds the unnormalised `encode_image`/`encode_text` features and `forward` /
`bank_large_step` normalise only the sum); `ComposedQueryModel.compose` normalises them first when the model's
`combiner_inputs` is `normalized`. Each combiner is registered in `embedlab.models.cir.COMBINERS` (one line) and
documents itself in its docstring.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from embedlab.models.cir import COMBINERS


class Combiner(nn.Module):
    """A registered combiner (`embedlab.models.cir.COMBINERS`): `name` is its registry name, `dim` is D."""

    name: ClassVar[str]

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, references: Tensor, texts: Tensor) -> Tensor:
        raise NotImplementedError


class SumCombiner(Combiner):
    """q = normalise(r + t), SPN4CIR's query (paper 6, arXiv 2404.11317; clip4cir/models.py `element_wise_sum`
    followed by `F.normalize`); no parameters."""

    name = "sum"

    def forward(self, references: Tensor, texts: Tensor) -> Tensor:
        """(B, D), (B, D) -> (B, D) normalise(r + t)."""
        return F.normalize(references + texts, dim=-1)


class MlpCombiner(Combiner):
    """q = normalise(r + t + MLP([r; t])): a learned residual (two layers of width 2D, the last zero-initialised,
    so that training starts from the sum), in the spirit of CLIP4Cir (Baldrati et al. 2022, arXiv 2203.15779)."""

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


def build_combiner(name: str, dim: int) -> Combiner:
    """The combiner registered as `name` for D = `dim`; UserError with a "did you mean" otherwise."""
    return COMBINERS.get(name)(dim)
