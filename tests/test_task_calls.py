"""No Prefect task calls another task's `.fn` (work Prefect would not see): shared work lives in plain functions
that the task and every other caller use. Read off the source of the project's packages."""

from __future__ import annotations

import ast

import pytest

from conftest import REPO

PACKAGES = ("embedlab", "flows", "tasks", "models")


def fn_calls(source: str) -> list[int]:
    """Lines of `<anything>.fn(...)` calls in `source`."""
    return [node.lineno for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "fn"]


def test_the_check_finds_a_fn_call():
    assert fn_calls("from x import read\n\ndef f():\n    return read.fn(1)\n") == [4]
    assert fn_calls("def f(fn):\n    return fn(1)\n") == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_code_calls_a_task_fn(package):
    found = [f"{path.relative_to(REPO)}:{line}" for path in sorted((REPO / package).rglob("*.py"))
             for line in fn_calls(path.read_text(encoding="utf-8"))]
    assert found == []
