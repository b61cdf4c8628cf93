"""`embedlab sql ask|evaluate|build-mismatch`: the ToolSQL text-to-SQL agent (paper 3)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from embedlab.cli.app import (DatasetOption, JsonOption, NoTrackOption, ParamsOption, SetOption, app,
                              command_settings, cwd_path, echo_table, running_flow, shown, tracking_on)

sql_app = typer.Typer(no_args_is_help=True, help="Text-to-SQL agent with a value retriever and an error detector (paper 3).")
app.add_typer(sql_app, name="sql")

VariantOption = Annotated[str, typer.Option("--variant", help="no_tools | exec_feedback | toolsql")]
QuestionsOption = Annotated[Path | None, typer.Option("--questions", help="Spider-format question file (default: sql.questions)")]


@sql_app.command("ask")
def ask(
    question: Annotated[str, typer.Argument(help="the question, in words")],
    db: Annotated[Path, typer.Option("--db", help="a SQLite database file")],
    variant: VariantOption = "toolsql",
    as_json: JsonOption = False,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Answer a question over any SQLite database: the SQL, its rows and the turn-by-turn trace."""
    from embedlab.errors import UserError, unknown_name
    from embedlab.models.sql.agent import VARIANTS
    from embedlab.tasks.sql import ask as ask_task
    from embedlab.tasks.sql import make_chat, trace_lines

    with command_settings(params, overrides) as settings:
        if variant not in VARIANTS:
            raise UserError(f"--variant: {unknown_name('variant', variant, VARIANTS)}")
        chat = make_chat(settings.params.sql.llm, settings.cache_dir)
        result, rows = ask_task(settings, Path(cwd_path(db)), question, variant, chat)
    if as_json:
        typer.echo(json.dumps({**result.as_dict(), "rows": rows}, ensure_ascii=False, default=str))
        return
    typer.echo("\n".join(trace_lines(result.turns)))
    typer.echo(f"--- SQL ({len(result.turns)} turn(s), {result.seconds:.1f} s)\n{result.sql or '(none)'}")
    for row in rows[:20]:
        typer.echo(" | ".join(str(value) for value in row))
    if len(rows) > 20:
        typer.echo(f"... {len(rows)} rows")


@sql_app.command("evaluate")
def evaluate(
    questions: QuestionsOption = None,
    dataset: DatasetOption = "dev",
    output: Annotated[str | None, typer.Option("--output", "-o", help="output folder (default: sql.output/<dataset>)")] = None,
    no_track: NoTrackOption = False,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Execution accuracy (official test-suite-sql-eval semantics) of each variant in sql.variants."""
    from embedlab.cli.checks import require_file
    from embedlab.flows.sql import SqlRequest, sql_evaluate
    from embedlab.models.generation.backend import require_model
    from embedlab.tasks.sql import read_template

    with command_settings(params, overrides) as settings:  # inputs are checked before Prefect starts
        require_model(settings.params.sql.llm, "sql.llm")
        read_template(settings)
        path = Path(cwd_path(questions) or settings.data_root / settings.params.sql.questions)
        require_file(path, "question file", "--questions or sql.questions")  # the flow reads the questions
    request = SqlRequest(settings=settings, questions=str(path),
                         dataset=dataset, output=cwd_path(output), track=tracking_on(settings, no_track))
    with running_flow():
        echo_table(sql_evaluate(request))


@sql_app.command("build-mismatch")
def build_mismatch(
    questions: QuestionsOption = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="output JSON (default: sql.mismatch)")] = None,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """A Spider-Mismatch-STYLE set (deterministic rewrites of condition values; not the paper's unreleased set)."""
    from embedlab.flows.sql import SqlRequest, sql_mismatch

    with command_settings(params, overrides) as settings:
        request = SqlRequest(settings=settings, questions=cwd_path(questions), output=cwd_path(output))
    with running_flow():
        summary = sql_mismatch(request)
    kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(summary["kinds"].items()))
    typer.echo(f"{summary['rewritten']} of {summary['questions']} questions rewritten ({kinds}) -> "
               f"{shown(Path(summary['output']))}  (Spider-Mismatch-style; not the paper's set)")
