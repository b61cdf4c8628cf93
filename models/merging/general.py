"""Generalized task arithmetic: the one merge that average, task arithmetic, TIES and DARE configure.

For one tensor with base version θ0 and fine-tuned versions θ_1..θ_N (all of shape S):

    τ_i = θ_i − θ0                                 task vectors (Ilharco et al. 2023, "Editing Models with
                                                   Task Arithmetic", ICLR)
    τ̂_i = sparsify(τ_i)                            none | magnitude: keep the top-k% by |τ| (TIES, Yadav et al.
                                                   2023) | random: drop with probability p, rescale by
                                                   1/(1−p) (DARE, Yu et al. 2024, "Language Models are Super
                                                   Mario", ICML)
    θ = θ0 + λ · combine(τ̂_1, …, τ̂_N)             sum | mean | ties (elect sign, disjoint mean)

The arithmetic runs in float32 and the result takes the base's dtype; integer tensors (e.g. position ids)
are the base's. As in mergekit, TIES trims per tensor, where the paper trims over the whole flattened vector.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import Tensor


def trim_magnitude(delta: Tensor, density: float) -> Tensor:
    """TIES "trim": keep the ceil(density · n) entries of largest magnitude, zero the others. Shape kept."""
    flat = delta.reshape(-1)
    keep = torch.zeros_like(flat, dtype=torch.bool)
    keep[flat.abs().topk(math.ceil(density * flat.numel())).indices] = True
    return (flat * keep).reshape(delta.shape)


def drop_random(delta: Tensor, density: float, generator: torch.Generator) -> Tensor:
    """DARE: zero each entry with probability p = 1 − density, scale the survivors by 1/(1 − p). Shape kept."""
    keep = torch.rand(delta.shape, generator=generator) < density
    return delta * keep / density


def ties_mean(deltas: Tensor) -> Tensor:
    """TIES "elect" and "disjoint merge": (N, *S) -> S.

    Per entry the elected sign is that of the total mass Σ_i δ_i; the result is the mean of the non-zero
    δ_i having that sign, or 0 where none has.
    """
    elected = torch.sign(deltas.sum(dim=0))
    agree = (torch.sign(deltas) == elected) & (deltas != 0)
    return (deltas * agree).sum(dim=0) / agree.sum(dim=0).clamp(min=1)


COMBINE = {
    "sum": lambda deltas: deltas.sum(dim=0),
    "mean": lambda deltas: deltas.mean(dim=0),
    "ties": ties_mean,
}


class GeneralTaskArithmetic(BaseModel):
    """θ0 + scale · combine(sparsify(θ_i − θ0)); see the module docstring. `merge` is a `TensorMerge`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scale: float = Field(1.0, description="λ, the factor of the combined task vector")
    sparsify: Literal["none", "magnitude", "random"] = "none"
    density: float = Field(1.0, gt=0, le=1, description="fraction of each task vector's entries kept")
    combine: Literal["sum", "mean", "ties"] = "sum"
    seed: int = Field(0, description="random sparsification: masks depend on (seed, tensor key, model index)")

    @model_validator(mode="after")
    def _density_needs_sparsify(self) -> GeneralTaskArithmetic:
        if self.sparsify == "none" and self.density < 1:
            raise ValueError("density < 1 needs sparsify 'magnitude' or 'random'")
        return self

    def _sparsify(self, delta: Tensor, key: str, index: int) -> Tensor:
        if self.sparsify == "magnitude":
            return trim_magnitude(delta, self.density)
        if self.sparsify == "random":
            generator = torch.Generator().manual_seed(zlib.crc32(f"{self.seed}/{index}/{key}".encode()))
            return drop_random(delta, self.density, generator)
        return delta

    def merge(self, base: Tensor, tuned: Sequence[Tensor], key: str) -> Tensor:
        """Merge one tensor: base of shape S, each tuned of shape S -> shape S in the base's dtype."""
        if not base.is_floating_point():
            return base.clone()
        theta0 = base.float()
        deltas = torch.stack([self._sparsify(t.float() - theta0, key, i) for i, t in enumerate(tuned)])  # (N, *S)
        return (theta0 + self.scale * COMBINE[self.combine](deltas)).to(base.dtype)
