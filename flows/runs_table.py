"""The results table of a research pipeline's trained runs: read every run under the pipeline's output folder and
write their table to <output>/table/ (report.md, metrics.json, table.csv, chart.png). The runs come first:
`embedlab cir train --stage 1|2|both` (composed image retrieval, paper 6) or `embedlab crossmodal train --objective
NAME` (papers 4, 7) each, or `dvc repro pipelines/<pipeline>/dvc.yaml`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from prefect import flow

from embedlab.config import Params
from embedlab.config.request import SettingsRequest
from embedlab.tasks.cir.report import cir_table, read_variants
from embedlab.tasks.crossmodal.report import crossmodal_table, read_runs
from embedlab.tasks.results_table import TABLE_FOLDER, ResultsTable, write_table

# pipeline -> (its output folder in params.yaml, read its runs, build their table)
PIPELINES: dict[str, tuple[Callable[[Params], str], Callable[[Path], Any], Callable[[Any], ResultsTable]]] = {
    "cir": (lambda params: params.train_cir.output, read_variants, cir_table),
    "crossmodal": (lambda params: params.train_crossmodal.output, read_runs, crossmodal_table),
}


class RunsTableRequest(SettingsRequest):
    """Flow parameters: the pipeline; its runs' folder comes from params.yaml."""

    pipeline: Literal["cir", "crossmodal"]


@flow(name="compare-runs")
def compare_runs(request: RunsTableRequest) -> dict[str, Any]:
    """Returns {"table": markdown, "outputs": {name: path}}."""
    settings = request.resolve_settings()
    output, read, build = PIPELINES[request.pipeline]
    results_dir = settings.path(output(settings.params))
    table = build(read(results_dir))
    outputs = write_table(table, results_dir / TABLE_FOLDER)
    return {"table": table.markdown(), "outputs": {name: str(path) for name, path in outputs.items()}}
