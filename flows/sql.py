"""Text-to-SQL (paper 3, ToolSQL): build the Spider-Mismatch-style set, evaluate the agent's variants (no tools,
execution feedback, both tools) on a question file, write the EX table and record an MLflow run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prefect import flow

from embedlab.config.request import SettingsRequest
from embedlab.tasks.results_table import write_table
from embedlab.tasks.sql import (build_mismatch, evaluate_variant, ex_table, load_questions, make_chat, make_tools,
                                read_template, summary_row)
from embedlab.tasks.tracking import log_run


class SqlRequest(SettingsRequest):
    """Flow parameters; everything else comes from params.yaml's `sql` section. `questions`: a Spider-format
    question file (default: sql.questions under data_root); `dataset`: its name in the table and the output."""

    questions: str | None = None
    dataset: str = "dev"
    output: str | None = None
    track: bool = True


@flow(name="sql_mismatch")
def sql_mismatch(request: SqlRequest = SqlRequest()) -> dict[str, Any]:
    settings = request.resolve_settings()
    sql = settings.params.sql
    questions = Path(request.questions) if request.questions else settings.data_root / sql.questions
    return build_mismatch(questions, settings.data_root / sql.tables, settings.data_root / sql.database_dir,
                          settings.path(request.output or sql.mismatch))


@flow(name="sql_evaluate")
def sql_evaluate(request: SqlRequest = SqlRequest()) -> dict[str, Any]:
    """Returns {"rows": {variant: summary}, "outputs": {name: path}}."""
    settings = request.resolve_settings()
    sql = settings.params.sql
    questions = Path(request.questions) if request.questions else settings.data_root / sql.questions
    examples, schemas = load_questions(settings, questions, sql.sample)
    chat = make_chat(sql.llm, settings.cache_dir)
    rows, records = {}, []
    for variant in sql.variants:
        found = evaluate_variant(sql, read_template(settings), make_tools(settings, variant),
                                 settings.data_root / sql.database_dir, settings.cache_dir, examples, schemas, variant,
                                 chat)
        rows[variant] = summary_row(found)
        records += found
    table = ex_table(rows, sql.llm.model, request.dataset)
    out = settings.path(request.output or Path(sql.output) / request.dataset)
    predictions = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    outputs = write_table(table, out, {"predictions.jsonl": predictions})
    if request.track:
        metrics = {f"{variant}.{key}": value for variant, row in rows.items() for key, value in row.items()
                   if isinstance(value, (int, float))}
        params = {"dataset": request.dataset, "questions": str(questions), "llm": sql.llm.model,
                  "variants": ",".join(sql.variants), "max_turns": sql.max_turns, "top_k": sql.top_k,
                  "sample": sql.sample, "seed": sql.seed}
        log_run(settings.tracking_uri, "sql", settings.project_dir, f"sql-{request.dataset}", params, metrics,
                [outputs["report.md"]])
    return {"rows": rows, "table": table.markdown(), "outputs": {k: str(v) for k, v in outputs.items()}}
