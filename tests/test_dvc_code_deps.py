"""Every DVC stage depends on all the code its command can run: the project files that the command's module,
its callback and everything they import (module- and function-level imports, and the "module:attribute" entries
of the registries, which load lazily) must each lie under one of the stage's deps."""

from __future__ import annotations

import ast
import inspect
import re
import shlex
import textwrap
from functools import cache
from pathlib import Path

import pytest
import typer
import yaml

from conftest import REPO
from embedlab.cli import app

ROOTS = {"embedlab.flows": "flows", "embedlab.tasks": "tasks", "embedlab.models": "models", "embedlab": "embedlab"}
LAZY_ENTRY = re.compile(r"^(embedlab(?:\.\w+)+):\w+$")


def module_file(name: str) -> Path | None:
    """The repository file of an `embedlab...` module (a package's __init__.py), or None outside the project."""
    for prefix, folder in ROOTS.items():
        if name == prefix or name.startswith(prefix + "."):
            parts = name[len(prefix):].lstrip(".").split(".") if name != prefix else []
            base = REPO / folder / Path(*parts) if parts else REPO / folder
            for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                if candidate.is_file():
                    return candidate
    return None


def _nodes(tree: ast.AST, skip_functions: bool):
    """Every node of `tree`; with `skip_functions`, not those inside function bodies (which do not run on import)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if skip_functions and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            stack.extend(node.decorator_list)
            continue
        stack.extend(ast.iter_child_nodes(node))


def imported_modules(tree: ast.AST, package: str, skip_functions: bool = False) -> set[str]:
    """Every module an AST imports, and every lazy registry entry ("module:attribute") it names."""
    names = set()
    for node in _nodes(tree, skip_functions):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and LAZY_ENTRY.match(node.value):
            names.add(LAZY_ENTRY.match(node.value).group(1))
    return {name for name in names if name.startswith("embedlab")}


@cache
def closure(start: tuple[str, ...]) -> frozenset[Path]:
    """The project files reached from the modules `start` by following every import."""
    seen: set[Path] = set()
    queue = [name for name in start]
    while queue:
        name = queue.pop()
        path = module_file(name)
        if path is None or path in seen:
            continue
        seen.add(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        parents = [".".join(name.split(".")[:i]) for i in range(1, len(name.split(".")))]
        # The other commands' bodies do not run: of a CLI module, only what it imports when loaded counts.
        cli = name.startswith("embedlab.cli")
        queue.extend(parents + sorted(imported_modules(ast.parse(path.read_text()), package, skip_functions=cli)))
    return frozenset(seen)


def command_files(cmd: str) -> frozenset[Path]:
    """The files an `embedlab ...` command can run: its module's imports, its callback's own imports, and what
    those import in turn (the other commands' function bodies are not run)."""
    words = [w for w in shlex.split(cmd)[1:] if not w.startswith("-")]
    command = typer.main.get_command(app)
    while hasattr(command, "commands") and words and words[0] in command.commands:
        command = command.commands[words.pop(0)]
    callback = inspect.unwrap(command.callback)
    module = inspect.getmodule(callback)
    function_tree = ast.parse(textwrap.dedent(inspect.getsource(callback)))
    start = {module.__name__, "embedlab.cli", *imported_modules(function_tree, module.__name__.rpartition(".")[0])}
    return closure(tuple(sorted(start)))


def stages() -> list[tuple[str, str, list[str]]]:
    """(dvc.yaml, stage name, cmd, code deps) of every stage of every pipeline (foreach stages once)."""
    found = []
    for dvc_file in [REPO / "dvc.yaml", *sorted((REPO / "pipelines").glob("*/dvc.yaml"))]:
        for name, stage in yaml.safe_load(dvc_file.read_text())["stages"].items():
            body = stage.get("do", stage)
            deps = [d if isinstance(d, str) else next(iter(d)) for d in body.get("deps", [])]
            code = [d for d in deps if "${" not in d]
            found.append((str(dvc_file.relative_to(REPO)), name, body["cmd"], code))
    return found


@pytest.mark.parametrize("dvc_file, stage, cmd, deps", stages(), ids=[f"{f}:{s}" for f, s, _, _ in stages()])
def test_a_stage_depends_on_every_file_its_command_can_run(dvc_file, stage, cmd, deps):
    assert cmd.startswith("embedlab "), cmd
    covered = [REPO / d for d in deps]
    missing = sorted(str(path.relative_to(REPO)) for path in command_files(cmd)
                     if not any(path == dep or dep in path.parents for dep in covered))
    assert not missing, f"{dvc_file} stage {stage!r} ({cmd}) runs code none of its deps covers: {missing}"
