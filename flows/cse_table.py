"""The acceptance table of sentence-representation learning: score the base model through the evaluation suite
(embeddings cached), read every finished run of `cse_table.runs`, write the results table to
<cse_table.output>/table/. The runs come first: `embedlab cse run --run NAME` each, or `dvc repro pipelines/cse/dvc.yaml`."""

from __future__ import annotations

from typing import Any

from prefect import flow

from embedlab.config.request import SettingsRequest
from embedlab.tasks.cse_table import cse_table, read_runs, table_rows
from embedlab.tasks.evaluate import load_model, read_eval_tasks, score_eval_tasks
from embedlab.tasks.results_table import TABLE_FOLDER, write_table


class CompareCseRequest(SettingsRequest):
    """Flow parameters; everything else comes from params.yaml's `cse_table`, `cse` and `evaluate` sections."""



@flow(name="compare_cse")
def compare_cse(request: CompareCseRequest = CompareCseRequest()) -> dict[str, Any]:
    """Returns {"rows": [...], "table": markdown, "outputs": {name: path}}."""
    settings = request.resolve_settings()
    cse, evaluate = settings.params.cse, settings.params.evaluate
    runs = read_runs(settings)
    model = load_model(cse.base, evaluate.device, evaluate.batch_size, evaluate.precision, cse.eval_max_seq_length)
    tasks = read_eval_tasks(cse.evaluate, [], settings.data_root, "local")
    base = {s.name: s.main_score for s in score_eval_tasks(model, tasks, settings.cache_dir)}
    rows = table_rows(cse.base, base, runs)
    record = cse.model_dump(exclude={"profiles", "objective", "options", "paradigm"})
    table = cse_table(rows, record)
    outputs = write_table(table, settings.path(settings.params.cse_table.output) / TABLE_FOLDER)
    return {"rows": rows, "table": table.markdown(), "outputs": {name: str(path) for name, path in outputs.items()}}
