"""Registry of image–text training objectives: name -> `base.Objective` class (its `Params`, its loss).

Adding an objective is one file defining an `Objective` subclass plus one line here. Each file keeps the loss
itself as a pure function of embeddings, testable with plain tensors, and documents the objective in its
docstring. Nothing is imported until an objective is used (`OBJECTIVES.get`), so the names cost no torch import.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from embedlab.registry import Registry, module_doc

if TYPE_CHECKING:
    from embedlab.models.objectives.base import Objective

OBJECTIVES: Registry[type[Objective]] = Registry("objective", {
    "clip": "embedlab.models.objectives.clip:Clip",
    "one_to_k": "embedlab.models.objectives.one_to_k:OneToK",
    "cusa": "embedlab.models.objectives.cusa:Cusa",
}, params=lambda objective: objective.Params, doc=module_doc)


def build_objective(name: str, values: Mapping[str, Any], image_width: int, text_width: int) -> Objective:
    """The objective `name` with parameters `values`, for towers of the given feature widths."""
    return OBJECTIVES.get(name)(OBJECTIVES.params(name, values), image_width, text_width)
