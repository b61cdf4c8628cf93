"""`embedlab kbqa ask|run|evaluate|linking|surface-map`: KB-Coder, code-style in-context learning for KBQA
(paper 10)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from embedlab.cli.app import (DatasetOption, JsonOption, NoTrackOption, ParamsOption, SetOption, app,
                              command_settings, cwd_path, echo_table, running_flow, shown, stdout_for_json,
                              tracking_on)

kbqa_app = typer.Typer(no_args_is_help=True, help="KB-Coder: KBQA by code-style in-context learning (paper 10).")
app.add_typer(kbqa_app, name="kbqa")

StyleOption = Annotated[str, typer.Option("--style", help="code (KB-Coder) | sexpr (the S-expression baseline)")]
QuestionsOption = Annotated[Path | None, typer.Option("--questions", help="GrailQA-format file (default: kbqa.questions)")]


def _check(settings, questions: Path | None, need_llm: bool = True) -> Path:
    """Inputs checked before any work: the LLM named, the question file, demo pool and surface map exist (the flow
    reads them)."""
    from embedlab.cli.checks import require_file
    from embedlab.models.generation.backend import require_model

    kbqa = settings.params.kbqa
    if need_llm:
        require_model(kbqa.llm, "kbqa.llm")
    path = Path(cwd_path(questions) or settings.data_root / kbqa.questions)
    require_file(path, "question file", "--questions or kbqa.questions")
    if kbqa.demo_pool:
        require_file(settings.data_root / kbqa.demo_pool, "demo pool", "kbqa.demo_pool")
    if need_llm:
        require_file(settings.path(kbqa.surface_map), "surface-name map",
                     "kbqa.surface_map; build one: embedlab kbqa surface-map")
    return path


@kbqa_app.command("ask")
def ask(
    question: Annotated[str, typer.Argument(help="the question, in words")],
    style: StyleOption = "code",
    as_json: JsonOption = False,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Answer one question: the generated lines, the S-expression, its SPARQL and the answers (vote of n)."""
    from embedlab.tasks.kbqa.run import ask as ask_task
    from embedlab.tasks.kbqa.run import demo_pool, load_pool, make_kit, make_llm

    with stdout_for_json(as_json), command_settings(params, overrides) as settings:
        _, pool = load_pool(settings, _check(settings, None))
        kit = make_kit(settings)
        result = ask_task(kit, make_llm(settings.params.kbqa.llm, settings.cache_dir), style, question,
                          demo_pool(kit, pool))
    if as_json:
        typer.echo(json.dumps(result.as_dict(), ensure_ascii=False))
        return
    for i, attempt in enumerate(result.attempts, 1):
        typer.echo(f"--- sample {i}: " + (f"format error: {attempt.format_error}" if attempt.format_error
                                          else attempt.s_expression or "(no program links)"))
        typer.echo(attempt.completion.strip())
    voted = result.voted
    typer.echo(f"=== {len(result.attempts) - result.format_errors}/{len(result.attempts)} samples parsed")
    typer.echo(f"S-expression: {voted.s_expression if voted else '(none)'}")
    if voted and voted.sparql:
        typer.echo(f"SPARQL:\n{voted.sparql}\nanswers: {', '.join(voted.answers[:20])}")


@kbqa_app.command("run")
def run(
    questions: QuestionsOption = None,
    style: StyleOption = "code",
    output: Annotated[str | None, typer.Option("--output", "-o", help="JSON-lines file of answers")] = None,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Answer every question of a GrailQA-format file (the other questions, or kbqa.demo_pool, as demos)."""
    from embedlab.config.kbqa import STYLES
    from embedlab.errors import UserError, unknown_name
    from embedlab.flows.kbqa import KbqaRequest, kbqa_run

    with command_settings(params, overrides) as settings:
        path = _check(settings, questions)
        if style not in STYLES:
            raise UserError(f"--style: {unknown_name('prompt style', style, STYLES)}")
    request = KbqaRequest(settings=settings, questions=str(path),
                          style=style, output=cwd_path(output))
    with running_flow():
        summary = kbqa_run(request)
    typer.echo(f"{summary['questions']} questions -> {shown(Path(summary['output']))}")


@kbqa_app.command("evaluate")
def evaluate(
    questions: QuestionsOption = None,
    dataset: DatasetOption = "grailqa-sample",
    output: Annotated[str | None, typer.Option("--output", "-o", help="output folder (default: kbqa.output/<dataset>)")] = None,
    no_track: NoTrackOption = False,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """EM (graph isomorphism), F1, format error rate per prompt style in kbqa.styles, and linking recall."""
    from embedlab.flows.kbqa import KbqaRequest, kbqa_evaluate

    with command_settings(params, overrides) as settings:
        path = _check(settings, questions)
    request = KbqaRequest(settings=settings, questions=str(path),
                          dataset=dataset, output=cwd_path(output), track=tracking_on(settings, no_track))
    with running_flow():
        echo_table(kbqa_evaluate(request))


@kbqa_app.command("linking")
def linking(
    questions: QuestionsOption = None,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Relation-linking recall@1/10/100 over the ontology, gold edge friendly names as mentions (no LLM)."""
    from embedlab.tasks.kbqa.evaluate import linking_recall
    from embedlab.tasks.kbqa.run import make_kit

    with command_settings(params, overrides) as settings:
        path = _check(settings, questions, need_llm=False)
        typer.echo(json.dumps(linking_recall(make_kit(settings, surface=False), path)))


@kbqa_app.command("surface-map")
def surface_map(
    source: Annotated[Path, typer.Option("--from", help="GrailQA-format file whose entity names to map")],
    output: Annotated[str | None, typer.Option("--output", "-o", help="TSV file (default: kbqa.surface_map)")] = None,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """A surface-name map (name, mid, classes) from a GrailQA file's graph_query and answer names (oracle-like:
    a user with FACC1 supplies theirs instead)."""
    from embedlab.models.kbqa.grailqa import read_examples
    from embedlab.tasks.kbqa.evaluate import write_surface_map

    with command_settings(params, overrides) as settings:
        path = Path(cwd_path(output) or settings.path(settings.params.kbqa.surface_map))
        rows = write_surface_map(read_examples(Path(cwd_path(source))), path)
    typer.echo(f"{rows} names -> {shown(path)}")
