"""The comparison of composed-image-retrieval variants (paper 6): read every trained variant under
`train_cir.output`, write their results table to <train_cir.output>/table/. The variants come first:
`embedlab cir train --stage 1|2|both` each, or `dvc repro pipelines/cir/dvc.yaml`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow
from pydantic import BaseModel, Field

from embedlab.config import load_settings
from embedlab.tasks.cir_report import cir_table, read_variants
from embedlab.tasks.results_table import TABLE_FOLDER, write_table


class CompareCirRequest(BaseModel):
    """Flow parameters; the variants' folder comes from params.yaml's `train_cir.output`."""

    params_file: str | None = None
    overrides: list[str] = Field(default_factory=list, description="-S key=value overrides of params.yaml")


@flow(name="compare-cir")
def compare_cir(request: CompareCirRequest = CompareCirRequest()) -> dict[str, Any]:
    """Returns {"table": markdown, "outputs": {name: path}}."""
    settings = load_settings(Path(request.params_file) if request.params_file else None, request.overrides)
    results_dir = settings.path(settings.params.train_cir.output)
    table = cir_table(read_variants(results_dir))
    outputs = write_table(table, results_dir / TABLE_FOLDER)
    return {"table": table.markdown(), "outputs": {name: str(path) for name, path in outputs.items()}}
