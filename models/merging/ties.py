"""TIES-Merging (Yadav et al. 2023, "Resolving Interference When Merging Models", NeurIPS).

Trim each task vector to its top-k% entries by magnitude, elect each entry's sign by total mass, average the
entries that agree with it (disjoint mean), and add λ times the result to θ0. The trim is per tensor (as in
mergekit); the paper trims over the whole flattened task vector.
"""

from __future__ import annotations

from pydantic import Field

from embedlab.models.merging.base import MergeMethod, MethodParams, TensorMerge
from embedlab.models.merging.general import GeneralTaskArithmetic


class TiesParams(MethodParams):
    """`density`: k/100, the fraction of each task vector kept (paper: k = 20). `lambda`: the paper's default 1."""

    density: float = Field(0.2, gt=0, le=1, description="fraction of entries kept per task vector, by magnitude")
    scale: float = Field(1.0, alias="lambda", description="λ, the factor of the merged task vector")


def build(params: TiesParams) -> TensorMerge:
    return GeneralTaskArithmetic(scale=params.scale, sparsify="magnitude", density=params.density,
                                 combine="ties").merge


METHOD = MergeMethod("ties", TiesParams, build)
