"""`embedlab merge` and `embedlab compare` (the comparison of Li et al. 2024)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embedlab.cli.app import (
    NoTrackOption, ParamsOption, SetOption, app, command_settings, cwd_path, echo_table, running_flow, shown,
    tracking_on,
)
from embedlab.errors import UserError
from embedlab.models.merging import METHODS


def _method_override(method: str, item: str) -> str:
    """`-S key=value` without a dot sets a parameter of the merge method: `merge.methods.<method>.key=value`."""
    return item if "." in item.split("=", 1)[0] else f"merge.methods.{method}.{item}"


@app.command()
def merge(
    method: Annotated[str, typer.Option("--method", help=f"merge method: {METHODS.choices()}")],
    out: Annotated[Path, typer.Option("--out", "-o", help="folder of the merged sentence-transformers model")],
    base: Annotated[str | None, typer.Option("--base", help="the model the others were fine-tuned from")] = None,
    model: Annotated[list[str] | None, typer.Option("--model", "-m", help="a fine-tuned model (repeatable)")] = None,
    trained: Annotated[bool, typer.Option("--trained", help="merge the per-task models of `embedlab train` "
                                          "(<train.output>/<task>/model for train.joint_tasks, else every task) "
                                          "onto train.base")] = False,
    no_track: NoTrackOption = False,
    params: ParamsOption = None,
    overrides: Annotated[list[str] | None, typer.Option(
        "-S", "--set", help="a method parameter (e.g. -S density=0.3), or a dotted params.yaml key")] = None,
) -> None:
    """Merge fine-tuned models (folders, 'minilm' or Hub ids) that share the base's architecture.

    `self_positioning` learns its coefficients on a probe set drawn from the training tasks of params.yaml."""
    from embedlab.atomic import check_output_dir
    from embedlab.models.merging.folder import local_folder
    from embedlab.models.merging.weights import index_models
    from embedlab.train_tasks import check_train_task_names

    overrides = [_method_override(method, item) for item in overrides or []]
    # method, parameters, architectures (safetensors headers only) and --out are checked before Prefect starts
    with command_settings(params, overrides) as settings:
        chosen = METHODS.params(method, settings.params.merge.methods.get(method, {}))
        train = settings.params.train
        if trained and model:
            raise UserError("give --model (repeatable) or --trained, not both")
        if trained:
            base = base or train.base
            model = [str(settings.path(train.output) / name / "model") for name in train.joint_tasks or train.tasks]
        if not base or not model:
            raise UserError("give --base and --model (repeatable), or --trained")
        if METHODS.get(method).search is not None:  # the probe set's training tasks
            names = list(getattr(chosen, "tasks", None) or train.joint_tasks or train.tasks)
            check_train_task_names(names, train.tasks)
        folders = [local_folder(spec) for spec in [base, *model]]
        index_models(folders[0], folders[1:])
        check_output_dir(Path(cwd_path(out)), folders)

    from embedlab.flows.merge import MergeRequest
    from embedlab.flows.merge import merge as merge_flow

    request = MergeRequest(base=base, models=model, method=method, out=cwd_path(out),
                           settings=settings, track=tracking_on(settings, no_track))
    with running_flow():
        summary = merge_flow(request)
    typer.echo(f"merged {len(model)} models with {method} {summary['params']} "
               f"({summary['tensors']} tensors, {summary['seconds']:.1f} s) -> {shown(Path(summary['out']))}")


@app.command("compare")
def compare_command(
    output: Annotated[str | None, typer.Option("--output", "-o", help="output folder (default: compare.output)")] = None,
    no_track: Annotated[bool, typer.Option("--no-track", help="do not record MLflow runs")] = False,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Score the base, the per-task models, joint trainings and merges on one suite; one table with compute
    (the comparison of Li et al. 2024; `dvc repro` builds every variant first)."""
    from embedlab.atomic import check_output_dir
    from embedlab.tasks.compare.variants import compare_specs, seed_folders, variants_by_seed

    output = cwd_path(output)
    # params, the suite, every variant's folder and the output are checked before Prefect starts
    with command_settings(params, overrides) as settings:
        check_output_dir(settings.path(output or settings.params.compare.output), [settings.data_root])
        for method in settings.params.compare.merges:
            METHODS.check(method)
        compare_specs(settings)
        variants_by_seed(settings.params.train, settings.params.compare, seed_folders(settings), settings.project_dir)

    from embedlab.flows.compare import CompareRequest
    from embedlab.flows.compare import compare as compare_flow

    request = CompareRequest(output=output, settings=settings,
                             track=tracking_on(settings, no_track))
    with running_flow():
        echo_table(compare_flow(request))
