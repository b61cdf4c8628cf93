"""Registry of image–text training objectives: name -> `Objective` class (its parameters, its loss).

Adding an objective is one file defining an `Objective` subclass plus one line here. Each file keeps the loss
itself as a pure function of embeddings, testable with plain tensors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from embedlab.errors import UserError, unknown_name
from embedlab.models.objectives.base import Encoded, Objective, ObjectiveParams, TeacherParams
from embedlab.models.objectives.clip import Clip
from embedlab.models.objectives.cusa import Cusa
from embedlab.models.objectives.one_to_k import OneToK

OBJECTIVES: dict[str, type[Objective]] = {objective.name: objective for objective in (
    Clip,
    OneToK,
    Cusa,
)}

__all__ = ["OBJECTIVES", "Encoded", "Objective", "ObjectiveParams", "TeacherParams", "build_objective",
           "get_objective", "objective_params"]


def get_objective(name: str) -> type[Objective]:
    """The objective registered as `name`; UserError with a "did you mean" for an unknown name."""
    if name not in OBJECTIVES:
        raise unknown_name("objective", name, OBJECTIVES)
    return OBJECTIVES[name]


def objective_params(name: str, values: Mapping[str, Any]) -> ObjectiveParams:
    """`values` validated as objective `name`'s parameters; a one-line UserError naming the key otherwise."""
    params = get_objective(name).Params
    try:
        return params.model_validate(dict(values))
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "parameters"
        raise UserError(f"objective {name!r}: {key}: {first['msg']} (got {first.get('input')!r}; "
                        f"parameters: {', '.join(params.model_fields)})") from None


def build_objective(name: str, values: Mapping[str, Any], image_width: int, text_width: int) -> Objective:
    """The objective `name` with parameters `values`, for towers of the given feature widths."""
    return get_objective(name)(objective_params(name, values), image_width, text_width)
