"""The `embedlab` command: a thin shell over the Prefect flows in `embedlab.flows`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from embedlab.errors import UserError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Reproducible, comparable, fast text-embedding and retrieval methods.")

ParamsOption = Annotated[Path | None, typer.Option("--params", help="params file (default: ./params.yaml)")]
SetOption = Annotated[list[str] | None, typer.Option("-S", "--set", help="override a params value: key.sub=value")]


def _fail(error: Exception) -> None:
    typer.echo(f"error: {error}", err=True)
    raise typer.Exit(2)


@app.command()
def evaluate(
    model: Annotated[str | None, typer.Option("--model", "-m", help="model folder, Hugging Face id, or 'minilm'")] = None,
    task: Annotated[list[str] | None, typer.Option("--task", "-t", help="evaluation task name (repeatable)")] = None,
    task_file: Annotated[list[Path] | None, typer.Option("--task-file", help="YAML file of user tasks")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object on stdout")] = False,
    output: Annotated[str | None, typer.Option("--output", "-o", help="output folder")] = None,
    no_track: Annotated[bool, typer.Option("--no-track", help="do not record an MLflow run")] = False,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Evaluate an embedding model on evaluation tasks (scores are mteb's)."""
    from embedlab.config import load_settings
    from embedlab.models.encoder import model_source
    from embedlab.tasks.evaluation import read_eval_tasks

    try:  # check the user's input before Prefect starts, so mistakes fail fast in one line
        settings = load_settings(params, overrides or [])
        chosen = settings.params.evaluate
        names = task or ([] if task_file else chosen.tasks)
        files = task_file or [settings.path(p) for p in chosen.task_files]
        read_eval_tasks.fn(names, files, settings.data_root, chosen.source)
        model_source(model or chosen.model)
    except UserError as error:
        _fail(error)

    from embedlab.flows.evaluate import EvaluateRequest
    from embedlab.flows.evaluate import evaluate as evaluate_flow
    from embedlab.tasks.report import HEADLINE_METRICS

    request = EvaluateRequest(model=model, tasks=names, task_files=[str(p) for p in files], output=output,
                              params_file=str(params) if params else None, overrides=overrides or [],
                              track=not no_track)
    try:
        results = evaluate_flow(request)
    except UserError as error:
        _fail(error)
    if as_json:
        sys.stdout.write(json.dumps(results) + "\n")
        return
    typer.echo(f"{'task':<28} {'main score':>10}  other metrics")
    for name, values in results.items():
        others = "  ".join(f"{k}={values[k]:.4f}" for k in HEADLINE_METRICS if k in values)
        typer.echo(f"{name:<28} {values['main_score']:>10.4f}  {others}")


@app.command("tasks")
def list_tasks() -> None:
    """List the built-in evaluation tasks."""
    from embedlab.eval_tasks.registry import builtin_specs

    for spec in builtin_specs():
        typer.echo(f"{spec.name:<28} {spec.type:<16} {spec.resolved_main_score:<16} {spec.description}")


def main() -> None:
    app()
