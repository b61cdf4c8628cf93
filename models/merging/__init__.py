"""Registry of merge methods: name -> `base.MergeMethod` (parameters, per-tensor merge).

Adding a method is one file defining `METHOD` plus one line here. The data-free methods are configurations of
`general.GeneralTaskArithmetic`; `self_positioning` learns its coefficients on a probe set (`probe`). `weights`
streams whole model folders through a method's merge. A method's documentation is its file's docstring; nothing
is imported until a method is used (`METHODS.get`), so the names cost no torch import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from embedlab.registry import Registry, module_doc

if TYPE_CHECKING:
    from embedlab.models.merging.base import MergeMethod

METHODS: Registry[MergeMethod[Any]] = Registry("merge method", {
    "average": "embedlab.models.merging.average:METHOD",
    "task_arithmetic": "embedlab.models.merging.task_arithmetic:METHOD",
    "ties": "embedlab.models.merging.ties:METHOD",
    "dare": "embedlab.models.merging.dare:METHOD",
    "self_positioning": "embedlab.models.merging.self_positioning:METHOD",
}, params=lambda method: method.params, doc=lambda method: module_doc(method.build or method.search))
