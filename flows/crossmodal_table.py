"""The comparison of cross-modal objectives: read every trained run under `train_crossmodal.output`, write their
results table to <train_crossmodal.output>/table/. The runs come first: `embedlab crossmodal train --objective
NAME` each, or `dvc repro pipelines/crossmodal/dvc.yaml`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow
from pydantic import BaseModel, Field

from embedlab.config import load_settings
from embedlab.tasks.crossmodal_report import crossmodal_table, read_runs
from embedlab.tasks.results_table import TABLE_FOLDER, write_table


class CompareCrossModalRequest(BaseModel):
    """Flow parameters; the runs' folder comes from params.yaml's `train_crossmodal.output`."""

    params_file: str | None = None
    overrides: list[str] = Field(default_factory=list, description="-S key=value overrides of params.yaml")


@flow(name="compare-crossmodal")
def compare_crossmodal(request: CompareCrossModalRequest = CompareCrossModalRequest()) -> dict[str, Any]:
    """Returns {"table": markdown, "outputs": {name: path}}."""
    settings = load_settings(Path(request.params_file) if request.params_file else None, request.overrides)
    results_dir = settings.path(settings.params.train_crossmodal.output)
    table = crossmodal_table(read_runs(results_dir))
    outputs = write_table(table, results_dir / TABLE_FOLDER)
    return {"table": table.markdown(), "outputs": {name: str(path) for name, path in outputs.items()}}
