"""Training tasks (`TrainTask`): params.yaml entries read into examples. One file per format, registered in
`spec.FORMATS` (a file defining `FORMAT = TrainFormat(roles, read)` plus one line there).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path

from embedlab.errors import DataError, unknown_name
from embedlab.models.losses import LOSSES
from embedlab.train_tasks.spec import FORMATS, TrainTaskSpec
from embedlab.train_tasks.task import TrainTask


def train_task_spec(name: str, tasks: Mapping[str, TrainTaskSpec]) -> TrainTaskSpec:
    """The spec of training task `name`; UserError with a "did you mean" for an unknown name."""
    if name not in tasks:
        raise unknown_name("training task", name, tasks)
    return tasks[name]


def check_train_task_names(names: list[str], tasks: Mapping[str, TrainTaskSpec]) -> None:
    """Fail fast, in one line, on an unknown task or loss name (before any data or model is read)."""
    for name in names:
        LOSSES.check(train_task_spec(name, tasks).loss)


def check_train_files(names: list[str], tasks: Mapping[str, TrainTaskSpec], data_root: Path) -> None:
    """Fail fast, in one line naming the file, on a training file that is missing or empty (contents are
    checked when the task is read)."""
    for name in names:
        for role, file in train_task_spec(name, tasks).files.items():
            path = Path(file.path) if Path(file.path).is_absolute() else data_root / file.path
            if not path.exists():
                raise DataError(path, f"training task {name!r}: the {role} file does not exist")
            if path.is_file() and path.stat().st_size == 0:
                raise DataError(path, f"training task {name!r}: the {role} file is empty")


def load_train_task(name: str, spec: TrainTaskSpec, data_root: Path, seed: int) -> TrainTask:
    """Read a task's files into examples (a seeded subset of `max_examples` where set).

    Raises DataError naming the file for a missing, empty or malformed file, or one yielding no examples.
    """
    examples = FORMATS.get(spec.format).read(spec, data_root, seed)
    if not examples:
        raise DataError(spec.files[next(iter(spec.files))].path, f"training task {name!r} has no usable examples")
    if spec.max_examples and len(examples) > spec.max_examples:
        keep = sorted(random.Random(seed).sample(range(len(examples)), spec.max_examples))
        examples = [examples[i] for i in keep]
    return TrainTask(name, spec, examples)
