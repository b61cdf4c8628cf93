"""`embedlab train`: fine-tuning per training task or jointly."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embedlab.cli.app import (
    NoTrackOption, ParamsOption, SetOption, app, command_settings, running_flow, shown, tracking_on,
)
from embedlab.errors import UserError


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
    from embedlab.models.model_source import model_source
    from embedlab.train_tasks import check_train_files, check_train_task_names

    options = {"train.base": base, "train.sampling": sampling, "train.alpha": alpha}
    with command_settings(params, overrides, options) as settings:  # names, losses and params before Prefect
        if joint == (task is not None):
            raise UserError("give either --task NAME or --joint")
        if not joint and (sampling or alpha is not None):
            raise UserError("--sampling and --alpha apply to --joint training only")
        if not settings.params.train.tasks:
            raise UserError(f"no params.yaml in {Path.cwd()}: run from the project folder or give --params"
                            if settings.params_file is None else f"{settings.params_file} defines no train.tasks")
        names = [task] if task else settings.params.train.joint_tasks or list(settings.params.train.tasks)
        check_train_task_names(names, settings.params.train.tasks)
        check_train_files(names, settings.params.train.tasks, settings.data_root)
        model_source(settings.params.train.base)

    from embedlab.flows.train import TrainRequest
    from embedlab.flows.train import train as train_flow

    request = TrainRequest(task=task, joint=joint, settings=settings, track=tracking_on(settings, no_track))
    with running_flow():
        summary = train_flow(request)
    if summary["is_global_zero"]:
        mix = "  ".join(f"{name}={share:.2f}" for name, share in summary["task_mix"].items())
        typer.echo(f"model: {shown(Path(summary['model']))}  steps: {summary['steps']}  task mix: {mix}")
