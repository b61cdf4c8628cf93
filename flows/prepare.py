"""The prepare flow: validate the configured evaluation tasks and write them, normalised, as one unit (a DVC output)."""

from __future__ import annotations

from typing import Any

from prefect import flow

from embedlab.atomic import atomic_dir
from embedlab.config.request import SettingsRequest
from embedlab.tasks.prepare import (configured_task_files, folder_names, list_configured_tasks, prepare_eval_task,
                                    write_index)


class PrepareRequest(SettingsRequest):
    """Flow parameters; the tasks come from params.yaml's `evaluate` section, the folder from `prepare.out`."""

    output: str | None = None


@flow(name="prepare")
def prepare(request: PrepareRequest = PrepareRequest()) -> dict[str, Any]:
    """Write every configured task's normalised files, tasks.yaml and manifest.json. Returns the manifest.

    The output folder is replaced whole only once every task has been read and written, so a
    malformed file leaves the previous output untouched.
    """
    settings = request.resolve_settings()
    refs = list_configured_tasks(settings.params.evaluate.tasks, configured_task_files(settings), settings.data_root)
    out_dir = settings.path(request.output or settings.params.prepare.out)
    folders = folder_names([ref.spec.name for ref in refs])
    with atomic_dir(out_dir) as tmp:
        prepared = [prepare_eval_task(ref, tmp, folder) for ref, folder in zip(refs, folders, strict=True)]
        index = write_index(tmp, prepared)
    return index
