"""The small base every merge method shares: a name, a pydantic parameter model, and a per-tensor merge."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

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


class LearnedMerge(Protocol):
    """What a method that learns from data returns: a `TensorMerge` plus a record of the search (JSON-ready)."""

    def merge(self, base: Tensor, tuned: Sequence[Tensor], key: str) -> Tensor: ...

    def record(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class MergeMethod(Generic[P]):
    """One registered merge method.

    Data-free methods set `build(params)`, which returns the per-tensor merge. Methods that learn their merge
    on a probe set (Self Positioning) set `search(params, base folder, model folders, probe)` instead, which
    returns a `LearnedMerge`; the probe is an `embedlab.models.merging.probe.ProbeSet`.
    """

    name: str
    params: type[P]
    build: Callable[[P], TensorMerge] | None = None
    search: Callable[[P, Path, Sequence[Path], Any], LearnedMerge] | None = None

    def __post_init__(self) -> None:
        if (self.build is None) == (self.search is None):
            raise TypeError(f"merge method {self.name!r} must define exactly one of build and search")
