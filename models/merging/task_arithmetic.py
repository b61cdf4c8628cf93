"""Task arithmetic (Ilharco et al. 2023, "Editing Models with Task Arithmetic", ICLR): θ = θ0 + λ Σ_i τ_i."""

from __future__ import annotations

from pydantic import Field

from embedlab.models.merging.base import MergeMethod, MethodParams, TensorMerge
from embedlab.models.merging.general import GeneralTaskArithmetic


class TaskArithmeticParams(MethodParams):
    """`lambda`: the one scaling coefficient; the paper picks it on validation data from [0, 1] (0.3 is typical
    when adding several task vectors)."""

    scale: float = Field(0.3, alias="lambda", description="λ, the factor of the summed task vectors")


def build(params: TaskArithmeticParams) -> TensorMerge:
    return GeneralTaskArithmetic(scale=params.scale).merge


METHOD = MergeMethod("task_arithmetic", TaskArithmeticParams, build)
