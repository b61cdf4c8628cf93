"""The small base every merge method shares: a name, a pydantic parameter model, and a per-tensor merge."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict
from torch import Tensor

TensorMerge = Callable[[Tensor, Sequence[Tensor], str], Tensor]
"""`merge(base, tuned, key) -> merged`: one tensor's base version (any shape S), its fine-tuned versions (each
of shape S) and its key (`<sub-folder>/<name>`, used to seed random choices) -> the merged tensor, shape S and
the base's dtype. It never modifies its inputs."""


class MethodParams(BaseModel):
    """A merge method's parameters: unknown keys are errors; `lambda` is accepted for a field aliased to it."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


P = TypeVar("P", bound=MethodParams)


@dataclass(frozen=True)
class MergeMethod(Generic[P]):
    """One registered merge method: `build(params)` returns the per-tensor merge it applies."""

    name: str
    params: type[P]
    build: Callable[[P], TensorMerge]
