"""Finding evaluation tasks by name (built-in or from `--task-file`), with "did you mean" for typos."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from embedlab.errors import UserError, unknown_name
from embedlab.eval_tasks.spec import EvalTaskSpec, TaskFile


@dataclass(frozen=True)
class EvalTaskRef:
    """A task spec and the folder its relative file paths start from."""

    spec: EvalTaskSpec
    base_dir: Path


def read_task_file(path: Path) -> list[EvalTaskSpec]:
    """Parse and validate a YAML task file; errors name the file and the offending field."""
    if not path.is_file():
        raise UserError(f"task file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise UserError(f"{path}{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if isinstance(raw, list):  # a bare list of tasks is accepted too
        raw = {"tasks": raw}
    try:
        return TaskFile.model_validate(raw).tasks
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise UserError(f"{path}: {where}: {first['msg']}") from None


def builtin_specs() -> list[EvalTaskSpec]:
    source = resources.files("embedlab.eval_tasks") / "builtin.yaml"
    with resources.as_file(source) as path:
        return read_task_file(Path(path))


def builtin_names() -> list[str]:
    return [spec.name for spec in builtin_specs()]


def resolve_tasks(names: list[str], task_files: list[Path], data_root: Path) -> list[EvalTaskRef]:
    """The tasks to run: each named built-in (files under `data_root`) and every task of each task file.

    A name may also refer to a task defined in one of `task_files`. Unknown names raise UserError
    listing the nearest known names.
    """
    from_files = [EvalTaskRef(spec, path.parent) for path in task_files for spec in read_task_file(path)]
    counts = Counter(ref.spec.name for ref in from_files)
    twice = [name for name, count in counts.items() if count > 1]
    if twice:
        raise UserError(f"task {twice[0]!r} is defined more than once in the task files")
    known = {spec.name: EvalTaskRef(spec, data_root) for spec in builtin_specs()}
    known.update({ref.spec.name: ref for ref in from_files})  # a task file may redefine a built-in
    unique_names = list(dict.fromkeys(names))
    chosen = [known[name] if name in known else _raise_unknown(name, known) for name in unique_names]
    chosen += [ref for ref in from_files if ref.spec.name not in unique_names]
    if not chosen:
        raise UserError("no evaluation task given: use --task NAME or --task-file FILE")
    return chosen


def _raise_unknown(name: str, known: dict) -> EvalTaskRef:
    raise unknown_name("evaluation task", name, known)
