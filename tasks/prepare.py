"""Prefect tasks of the prepare flow: pick the configured tasks, write each one's normalised files, then the index.

The output folder holds one sub-folder of JSON-lines files per task (layout in
`embedlab.eval_tasks.normalise`), `tasks.yaml` (a task file for `embedlab evaluate --task-file`, paths
relative to it) and `manifest.json` (rows and sha256 of every file, and of the file it came from).
Nothing in it depends on the time or the machine, so the same inputs give byte-identical outputs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from prefect import task
from prefect.cache_policies import NO_CACHE

from embedlab.config import Settings
from embedlab.errors import UserError
from embedlab.eval_tasks.loading import load_task
from embedlab.eval_tasks.normalise import normalised_rows, normalised_spec
from embedlab.eval_tasks.registry import EvalTaskRef, resolve_tasks
from embedlab.eval_tasks.spec import EvalTaskSpec
from embedlab.hashing import file_sha256

TASK_FILE = "tasks.yaml"
MANIFEST = "manifest.json"
_TASK_FILE_HEADER = "# Written by `embedlab prepare`; do not edit. File paths are relative to this file.\n"


@dataclass
class PreparedTask:
    """One prepared task: its folder, its spec pointing at the normalised files, and their manifest entries."""

    folder: str
    spec: EvalTaskSpec
    files: dict[str, dict[str, Any]]


def configured_task_files(settings: Settings) -> list[Path]:
    """The task files of params.yaml (`evaluate.task_files`), resolved against the project folder; UserError
    unless `evaluate.source` is local (prepare reads local files)."""
    params = settings.params.evaluate
    if params.source != "local":
        raise UserError(f"prepare reads local files, but evaluate.source is {params.source!r}: set it to 'local'")
    return [settings.path(p) for p in params.task_files]


@task(cache_policy=NO_CACHE)
def list_configured_tasks(names: list[str], task_files: list[Path], data_root: Path) -> list[EvalTaskRef]:
    """The tasks of params.yaml (`evaluate.tasks` and every task of `evaluate.task_files`), resolved by name."""
    return resolve_tasks(names, task_files, data_root)


def folder_names(names: list[str]) -> list[str]:
    """A distinct, file-system-safe folder name per task name."""
    taken: set[str] = set()
    out = []
    for name in names:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "task"
        folder, n = base, 1
        while folder.lower() in taken:
            n += 1
            folder = f"{base}-{n}"
        taken.add(folder.lower())
        out.append(folder)
    return out


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def _source_path(ref: EvalTaskRef, role: str) -> Path:
    path = Path(ref.spec.files[role].path).expanduser()
    return path if path.is_absolute() else ref.base_dir / path


@task(cache_policy=NO_CACHE)
def prepare_eval_task(ref: EvalTaskRef, out_dir: Path, folder: str) -> PreparedTask:
    """Read and validate one task's files, then write them normalised under `out_dir / folder`."""
    loaded = load_task(ref.spec, ref.base_dir)
    paths, files = {}, {}
    for role, rows in normalised_rows(loaded).items():
        paths[role] = f"{folder}/{role}.jsonl"
        write_jsonl(out_dir / paths[role], rows)
        files[role] = {
            "path": paths[role],
            "rows": len(rows),
            "sha256": file_sha256(out_dir / paths[role]),
            "source": ref.spec.files[role].path,
            "source_sha256": file_sha256(_source_path(ref, role)),
        }
    return PreparedTask(folder=folder, spec=normalised_spec(ref.spec, paths), files=files)


def manifest(prepared: list[PreparedTask]) -> dict[str, Any]:
    """`{"task_file": "tasks.yaml", "tasks": {name: {type, mteb_task, folder, files: {role: entry}}}}`.

    Each file entry holds `path` (relative to tasks.yaml), `rows`, `sha256`, `source` (the path as the
    task spec gives it) and `source_sha256`.
    """
    tasks = {p.spec.name: {"type": p.spec.type, "mteb_task": p.spec.mteb_task, "folder": p.folder, "files": p.files}
             for p in prepared}
    return {"task_file": TASK_FILE, "tasks": tasks}


@task(cache_policy=NO_CACHE)
def write_index(out_dir: Path, prepared: list[PreparedTask]) -> dict[str, Any]:
    """Write tasks.yaml and manifest.json into `out_dir`; returns the manifest."""
    specs = [p.spec.model_dump(mode="json", exclude_defaults=True) for p in prepared]
    task_file = _TASK_FILE_HEADER + yaml.safe_dump({"tasks": specs}, sort_keys=False, allow_unicode=True, width=120)
    (out_dir / TASK_FILE).write_text(task_file, encoding="utf-8")
    content = manifest(prepared)
    (out_dir / MANIFEST).write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return content
