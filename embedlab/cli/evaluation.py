"""`embedlab evaluate`, `prepare` and `tasks`: the evaluation suite."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from embedlab.cli.app import (
    JsonOption, NoTrackOption, ParamsOption, SetOption, app, command_settings, cwd_path, running_flow, shown,
    stdout_for_json, tracking_on,
)


@app.command()
def evaluate(
    model: Annotated[str | None, typer.Option("--model", "-m", help="model folder, Hugging Face id, or 'minilm'")] = None,
    task: Annotated[list[str] | None, typer.Option("--task", "-t", help="evaluation task name (repeatable)")] = None,
    task_file: Annotated[list[Path] | None, typer.Option("--task-file", help="YAML file of user tasks")] = None,
    as_json: JsonOption = False,
    output: Annotated[str | None, typer.Option("--output", "-o", help="output folder")] = None,
    no_track: NoTrackOption = False,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Evaluate an embedding model on evaluation tasks (scores are mteb's)."""
    from embedlab.atomic import check_output_dir
    from embedlab.cli.checks import require_file
    from embedlab.eval_tasks.loading import task_paths
    from embedlab.eval_tasks.registry import resolve_tasks
    from embedlab.models.device import resolve_device
    from embedlab.models.model_source import model_source

    output = cwd_path(output)
    # names, params, files and the output folder are checked before Prefect starts
    with command_settings(params, overrides) as settings:
        chosen = settings.params.evaluate
        names = task or ([] if task_file else chosen.tasks)
        files = task_file or [settings.path(p) for p in chosen.task_files]
        if chosen.source == "local":  # the data files are parsed once, by the flow's read_eval_tasks
            for ref in resolve_tasks(names, files, settings.data_root):
                for role, path in task_paths(ref.spec, ref.base_dir).items():
                    require_file(path, f"{ref.spec.name}'s {role} file", f"files.{role}.path")
        else:
            from embedlab.tasks.evaluate import hub_task

            [hub_task(name) for name in names]
        source = model_source(model if model is not None else chosen.model)
        if chosen.device != "auto":  # `auto` cannot be wrong; checking a named device imports torch
            resolve_device(chosen.device)
        inputs = [settings.data_root, *files, *([Path(source)] if Path(source).exists() else [])]
        output = output or str(settings.run_folder(chosen.output, "evaluate"))
        check_output_dir(Path(output), inputs)

    from embedlab.flows.evaluate import EvaluateRequest
    from embedlab.flows.evaluate import evaluate as evaluate_flow
    from embedlab.tasks.report import HEADLINE_METRICS

    request = EvaluateRequest(model=model, tasks=names, task_files=[str(p) for p in files], output=output,
                              settings=settings,
                              track=tracking_on(settings, no_track))
    with running_flow(), stdout_for_json(as_json):
        results = evaluate_flow(request)
    if as_json:
        sys.stdout.write(json.dumps(results, allow_nan=False) + "\n")
        return
    typer.echo(f"{'task':<28} {'main score':>10}  other metrics")
    for name, values in results.items():
        others = "  ".join(f"{k}={values[k]:.4f}" for k in HEADLINE_METRICS if k in values)
        typer.echo(f"{name:<28} {values['main_score']:>10.4f}  {others}")


@app.command()
def prepare(
    output: Annotated[str | None, typer.Option("--output", "-o", help="output folder (default: prepare.out)")] = None,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Validate the evaluation tasks of params.yaml and write them as normalised JSON lines (DVC stage `prepare`)."""
    from embedlab.atomic import check_output_dir
    from embedlab.eval_tasks.registry import resolve_tasks
    from embedlab.tasks.prepare import configured_task_files

    output = cwd_path(output)
    # names, task files, params and the output folder are checked before Prefect starts
    with command_settings(params, overrides) as settings:
        resolve_tasks(settings.params.evaluate.tasks, configured_task_files(settings), settings.data_root)
        out_dir = settings.path(output or settings.params.prepare.out)
        check_output_dir(out_dir, [settings.data_root])

    from embedlab.flows.prepare import PrepareRequest
    from embedlab.flows.prepare import prepare as prepare_flow

    request = PrepareRequest(output=output, settings=settings)
    with running_flow():
        index = prepare_flow(request)
    for name, entry in index["tasks"].items():
        counts = ", ".join(f"{role} {file['rows']}" for role, file in entry["files"].items())
        typer.echo(f"{name:<28} {entry['type']:<20} {counts}  -> {shown(out_dir / entry['folder'])}")


@app.command("tasks")
def list_tasks() -> None:
    """List the built-in evaluation tasks."""
    from embedlab.eval_tasks.registry import builtin_specs

    for spec in builtin_specs():
        typer.echo(f"{spec.name:<28} {spec.type:<16} {spec.resolved_main_score:<16} {spec.description}")
