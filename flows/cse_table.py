"""The acceptance table of sentence-representation learning: score the base model through the evaluation suite
(embeddings cached), read every finished run of `cse_table.runs`, write <cse_table.output>/report.md and
metrics.json. The runs come first: `embedlab cse --run NAME` each, or `dvc repro pipelines/cse/dvc.yaml`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow
from pydantic import BaseModel, Field

from embedlab.config import load_settings
from embedlab.tasks.cse_table import markdown_table, read_runs, table_rows, write_table
from embedlab.tasks.evaluation import load_model, read_eval_tasks, score_task


class CompareCseRequest(BaseModel):
    """Flow parameters; everything else comes from params.yaml's `cse_table`, `cse` and `evaluate` sections."""

    params_file: str | None = None
    overrides: list[str] = Field(default_factory=list, description="-S key=value overrides of params.yaml")


@flow(name="compare_cse")
def compare_cse(request: CompareCseRequest = CompareCseRequest()) -> dict[str, Any]:
    """Returns {"rows": [...], "table": markdown, "report": path of report.md}."""
    settings = load_settings(Path(request.params_file) if request.params_file else None, request.overrides)
    cse, evaluate = settings.params.cse, settings.params.evaluate
    runs = read_runs(settings)
    model = load_model(cse.base, evaluate.device, evaluate.batch_size, evaluate.precision, cse.eval_max_seq_length)
    tasks = read_eval_tasks(cse.evaluate, [], settings.data_root, "local")
    base = {s.name: s.main_score for s in (score_task(model, t, settings.cache_dir) for t in tasks)}
    rows = table_rows(cse.base, base, runs)
    record = cse.model_dump(exclude={"profiles", "objective", "options", "paradigm"})
    report, _ = write_table(settings.path(settings.params.cse_table.output), rows, record)
    return {"rows": rows, "table": markdown_table(rows), "report": str(report)}
