"""DARE (Yu et al. 2024, "Language Models are Super Mario: Absorbing Abilities from Homologous Models as a Free
Lunch", ICML): drop each task-vector entry with probability p, rescale the survivors by 1/(1−p), then merge
by task arithmetic, θ = θ0 + λ Σ_i τ̂_i. The masks are seeded: the same seed gives the same merge.
"""

from __future__ import annotations

from pydantic import Field

from embedlab.models.merging.base import MergeMethod, MethodParams, TensorMerge
from embedlab.models.merging.general import GeneralTaskArithmetic


class DareParams(MethodParams):
    """`drop`: p, the drop probability (the paper drops up to 0.9). `lambda`: as in task arithmetic."""

    drop: float = Field(0.9, ge=0, lt=1, description="p, the probability of dropping a task-vector entry")
    scale: float = Field(0.3, alias="lambda", description="λ, the factor of the summed task vectors")
    seed: int = Field(0, description="seed of the drop masks")


def build(params: DareParams) -> TensorMerge:
    return GeneralTaskArithmetic(scale=params.scale, sparsify="random", density=1 - params.drop,
                                 seed=params.seed).merge


METHOD = MergeMethod("dare", DareParams, build)
