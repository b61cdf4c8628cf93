"""`embedlab cse run|compare`: sentence-representation objectives in the SimCSE setting (papers 8, 9) and
their acceptance table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embedlab.cli.app import (
    NoTrackOption, ParamsOption, SetOption, app, command_settings, echo_table, running_flow, shown, tracking_on,
)
from embedlab.errors import UserError
from embedlab.models.losses import CSE_OBJECTIVES

cse_app = typer.Typer(no_args_is_help=True, help="Sentence embeddings in the SimCSE setting (papers 8, 9).")
app.add_typer(cse_app, name="cse")


@cse_app.command("run")
def run_cse(
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
    from embedlab.eval_tasks.registry import resolve_tasks
    from embedlab.models.model_source import model_source
    from embedlab.tasks.cse.train import check_data, check_objective, generated_file, table_run

    # run, objective, options, params, data, model and evaluation tasks: before Prefect starts
    with command_settings(params, overrides, {"cse.objective": objective, "cse.data": data}) as settings:
        if run and objective:
            raise UserError("give --run NAME or --objective NAME, not both (a run names its objective)")
        chosen_params = table_run(settings, run) if run else settings.params.cse
        check_objective(chosen_params)
        check_data(chosen_params, generated_file(settings))
        model_source(chosen_params.base)
        resolve_tasks(chosen_params.evaluate, [], settings.data_root)  # names and files; the flow reads the data

    from embedlab.flows.cse import CseRequest
    from embedlab.flows.cse import cse as cse_flow

    request = CseRequest(run=run, settings=settings, track=tracking_on(settings, no_track))
    with running_flow():
        summary = cse_flow(request)
    if summary["is_global_zero"]:
        scores = "  ".join(f"{name}={score:.4f}" for name, score in summary["scores"].items())
        fdi = summary["fdi"]
        typer.echo(f"model: {shown(Path(summary['model']))}  steps: {summary['steps']}  {scores}  "
                   f"FDI align={fdi['fdi_align']:+.4f} uniform={fdi['fdi_uniform']:+.4f}")


@cse_app.command("compare")
def compare_cse_runs(
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Write the table of the runs of cse_table.runs (STS score, Δ vs the base model, FDI, wall seconds, steps)
    to <cse_table.output>/table/ (report.md, metrics.json, table.csv, chart.png); the base model is scored through
    the evaluation suite."""
    from embedlab.tasks.cse.report import read_runs

    with command_settings(params, overrides) as settings:  # every run must be finished before Prefect starts
        read_runs(settings)

    from embedlab.flows.cse import CompareCseRequest, compare_cse

    with running_flow():
        echo_table(compare_cse(CompareCseRequest(settings=settings)))
