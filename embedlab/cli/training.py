"""`embedlab train` (per task or joint), `embedlab cse` (sentence-representation objectives) and
`embedlab compare-cse` (their acceptance table)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embedlab.cli.app import (
    NoTrackOption, ParamsOption, SetOption, app, params_file, running_flow, shown, tracking_on, user_errors,
)
from embedlab.errors import UserError
from embedlab.models.losses import CSE_OBJECTIVES


@app.command()
def train(
    task: Annotated[str | None, typer.Option("--task", "-t", help="training task name (see params.yaml train.tasks)")] = None,
    joint: Annotated[bool, typer.Option("--joint", help="one model on all training tasks (train.joint_tasks)")] = False,
    base: Annotated[str | None, typer.Option("--base", help="model to fine-tune (default: train.base)")] = None,
    sampling: Annotated[str | None, typer.Option("--sampling", help="joint: proportional | uniform | temperature")] = None,
    alpha: Annotated[float | None, typer.Option("--alpha", help="temperature sampling exponent")] = None,
    no_track: NoTrackOption = False,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Fine-tune an embedding model on one training task, or on all of them jointly (Lightning)."""
    from embedlab.config import load_settings
    from embedlab.models.model_source import model_source
    from embedlab.train_tasks import check_files, check_names

    chosen = {"train.base": base, "train.sampling": sampling, "train.alpha": alpha}
    overrides = (overrides or []) + [f"{key}={value}" for key, value in chosen.items() if value is not None]
    with user_errors():  # names, losses and params are checked before Prefect starts
        if joint == (task is not None):
            raise UserError("give either --task NAME or --joint")
        if not joint and (sampling or alpha is not None):
            raise UserError("--sampling and --alpha apply to --joint training only")
        settings = load_settings(params, overrides)
        if not settings.params.train.tasks:
            raise UserError(f"no params.yaml in {Path.cwd()}: run from the project folder or give --params"
                            if settings.params_file is None else f"{settings.params_file} defines no train.tasks")
        names = [task] if task else settings.params.train.joint_tasks or list(settings.params.train.tasks)
        check_names(names, settings.params.train.tasks)
        check_files(names, settings.params.train.tasks, settings.data_root)
        model_source(settings.params.train.base)

    from embedlab.flows.train import TrainRequest
    from embedlab.flows.train import train as train_flow

    request = TrainRequest(task=task, joint=joint, params_file=params_file(params),
                           overrides=overrides, track=tracking_on(settings, no_track))
    with running_flow():
        summary = train_flow(request)
    if summary["is_global_zero"]:
        mix = "  ".join(f"{name}={share:.2f}" for name, share in summary["task_mix"].items())
        typer.echo(f"model: {shown(Path(summary['model']))}  steps: {summary['steps']}  task mix: {mix}")


@app.command("cse")
def cse_command(
    objective: Annotated[str | None, typer.Option("--objective", help=f"{CSE_OBJECTIVES.choices()} "
                                                  "(default: cse.objective)")] = None,
    data: Annotated[str | None, typer.Option("--data", help="wiki (dropout views) | nli (triples) | generated "
                                             "(hierarchical sentences); default: cse.data")] = None,
    run: Annotated[str | None, typer.Option("--run", help="a run of cse_table.runs (its objective, options and "
                                            "paradigm), written to <cse_table.output>/runs/<run>")] = None,
    no_track: NoTrackOption = False,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Sentence embeddings in the SimCSE setting with an objective of the unified gradient paradigm, FDI
    diagnostics and an STSBenchmark score. Paradigm components: -S cse.paradigm.margin=0.3 (GD),
    -S cse.paradigm.weight_temperature=0.05 (W), -S cse.paradigm.ratio=1.5 (R)."""
    from embedlab.config import load_settings
    from embedlab.eval_tasks.loading import load_tasks
    from embedlab.models.model_source import model_source
    from embedlab.tasks.cse import check_data, check_objective, table_run

    chosen = {"cse.objective": objective, "cse.data": data}
    overrides = (overrides or []) + [f"{key}={value}" for key, value in chosen.items() if value is not None]
    with user_errors():  # run, objective, options, params, data, model and evaluation tasks: before Prefect starts
        if run and objective:
            raise UserError("give --run NAME or --objective NAME, not both (a run names its objective)")
        settings = load_settings(params, overrides)
        chosen_params = table_run(settings, run) if run else settings.params.cse
        check_objective(chosen_params)
        check_data(chosen_params, settings)
        model_source(chosen_params.base)
        load_tasks(chosen_params.evaluate, [], settings.data_root)

    from embedlab.flows.cse import CseRequest
    from embedlab.flows.cse import cse as cse_flow

    request = CseRequest(run=run, params_file=params_file(params), overrides=overrides, track=tracking_on(settings, no_track))
    with running_flow():
        summary = cse_flow(request)
    if summary["is_global_zero"]:
        scores = "  ".join(f"{name}={score:.4f}" for name, score in summary["scores"].items())
        fdi = summary["fdi"]
        typer.echo(f"model: {shown(Path(summary['model']))}  steps: {summary['steps']}  {scores}  "
                   f"FDI align={fdi['fdi_align']:+.4f} uniform={fdi['fdi_uniform']:+.4f}")


@app.command("compare-cse")
def compare_cse_command(
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Write the table of the runs of cse_table.runs (STS score, Δ vs the base model, FDI, wall seconds, steps)
    to <cse_table.output>/table/ (report.md, metrics.json, table.csv, chart.png); the base model is scored through
    the evaluation suite."""
    from embedlab.config import load_settings
    from embedlab.tasks.cse_table import read_runs

    with user_errors():  # every run must be finished before Prefect starts
        settings = load_settings(params, overrides or [])
        read_runs(settings)

    from embedlab.flows.cse_table import CompareCseRequest, compare_cse

    with running_flow():
        result = compare_cse(CompareCseRequest(params_file=params_file(params), overrides=overrides or []))
    typer.echo(result["table"])
    typer.echo(f"-> {shown(Path(result['outputs']['report.md']))}")
