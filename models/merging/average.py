"""Uniform model soup (Wortsman et al. 2022, "Model soups", ICML): θ = (1/N) Σ_i θ_i = θ0 + mean_i τ_i."""

from __future__ import annotations

from embedlab.models.merging.base import MergeMethod, MethodParams, TensorMerge
from embedlab.models.merging.general import GeneralTaskArithmetic


class AverageParams(MethodParams):
    """No parameters."""


def build(params: AverageParams) -> TensorMerge:
    return GeneralTaskArithmetic(combine="mean").merge


METHOD = MergeMethod("average", AverageParams, build)
