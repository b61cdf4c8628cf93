"""Registry of merge methods: name -> `MergeMethod` (parameters, per-tensor merge).

Adding a method is one file defining `METHOD` plus one line here. The data-free methods are configurations of
`general.GeneralTaskArithmetic`; `self_positioning` learns its coefficients on a probe set (`probe`). `weights`
streams whole model folders through a method's merge.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from embedlab.errors import UserError, unknown_name
from embedlab.models.merging import average, dare, self_positioning, task_arithmetic, ties
from embedlab.models.merging.base import LearnedMerge, MergeMethod, MethodParams, TensorMerge

METHODS: dict[str, MergeMethod] = {method.name: method for method in (
    average.METHOD,
    task_arithmetic.METHOD,
    ties.METHOD,
    dare.METHOD,
    self_positioning.METHOD,
)}

__all__ = ["METHODS", "LearnedMerge", "MergeMethod", "MethodParams", "TensorMerge", "get_method", "method_params"]


def get_method(name: str) -> MergeMethod:
    """The method registered as `name`; UserError with a "did you mean" for an unknown name."""
    if name not in METHODS:
        raise unknown_name("merge method", name, METHODS)
    return METHODS[name]


def method_params(name: str, values: Mapping[str, Any]) -> MethodParams:
    """`values` validated as method `name`'s parameters; a one-line UserError naming the key otherwise."""
    method = get_method(name)
    try:
        return method.params.model_validate(dict(values))
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "parameters"
        known = ", ".join(field.alias or field_name for field_name, field in method.params.model_fields.items())
        raise UserError(f"merge method {name!r}: {key}: {first['msg']} (got {first.get('input')!r}; "
                        f"parameters: {known or 'none'})") from None
