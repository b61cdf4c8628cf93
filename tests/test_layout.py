"""The layout the README's Layout section describes: every flow module pairs with its tasks (flows/X.py uses
tasks/X.py or the folder tasks/X/), and every folder under tasks/ and flows/ is a package that imports."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

from conftest import REPO

SHARED_FLOWS = {"__init__", "runs_table"}  # runs_table: the table of trained runs of cir and crossmodal


def test_every_flow_module_pairs_with_its_tasks():
    unpaired = [path.name for path in sorted((REPO / "flows").glob("*.py"))
                if path.stem not in SHARED_FLOWS
                and not (REPO / "tasks" / path.name).is_file() and not (REPO / "tasks" / path.stem).is_dir()]
    assert unpaired == []


def test_a_pipeline_folder_has_no_flat_file_beside_it():
    """tasks/cir/ and tasks/cir.py (or tasks/cir_data.py) together would split one pipeline over two places."""
    folders = {path.name for path in (REPO / "tasks").iterdir() if (path / "__init__.py").is_file()}
    flat = [path.name for path in (REPO / "tasks").glob("*.py")
            if path.stem in folders or path.stem.split("_")[0] in folders]
    assert flat == []


def test_every_sub_folder_is_an_importable_package():
    for root in ("tasks", "flows"):
        for folder in sorted(p for p in (REPO / root).iterdir() if p.is_dir() and p.name != "__pycache__"):
            assert (folder / "__init__.py").is_file(), folder
            module = importlib.import_module(f"embedlab.{root}.{folder.name}")
            assert Path(module.__file__).parent == folder


# The first word of every Prefect task's name: tasks are named verb_noun (issue 12), so a new task named after
# what it returns (`dense_scores`, `cse_table`) fails here until it says what it does.
VERBS = {"analyse", "answer", "build", "check", "complete", "decode", "draw", "encode", "evaluate", "list", "load", "log",
         "measure", "mine", "open", "plot", "prepare", "read", "rerank", "resolve", "run", "score", "search",
         "train", "warn", "write"}


def prefect_tasks() -> list:
    """Every Prefect task defined under tasks/."""
    from prefect import Task

    found = []
    for path in sorted((REPO / "tasks").rglob("*.py")):
        name = ".".join(["embedlab", *path.relative_to(REPO).with_suffix("").parts]).removesuffix(".__init__")
        module = importlib.import_module(name)
        found += [value for value in vars(module).values()
                  if isinstance(value, Task) and value.fn.__module__ == module.__name__]
    return found


def test_every_prefect_task_is_named_verb_noun():
    names = {task.name for task in prefect_tasks()}
    assert len(names) > 40
    assert sorted(name for name in names if name.split("_")[0] not in VERBS or "_" not in name) == []


def test_no_prefect_task_receives_the_whole_settings():
    """A task gets the typed section or the paths and values it needs (issue 12), never all of params.yaml."""
    whole = [f"{task.name}({name})" for task in prefect_tasks()
             for name, parameter in inspect.signature(task.fn).parameters.items()
             if str(parameter.annotation) == "Settings" or (name == "settings" and str(parameter.annotation) == "Any")]
    assert whole == []
