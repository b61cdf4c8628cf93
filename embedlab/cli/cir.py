"""`embedlab cir train|compare`: composed image retrieval (paper 6, SPN4CIR)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embedlab.cli.app import (
    NoTrackOption, ParamsOption, SetOption, app, running_flow, shown, tracking_on, user_errors,
)
from embedlab.errors import UserError

cir_app = typer.Typer(no_args_is_help=True, help="Composed image retrieval (paper 6, SPN4CIR).")
app.add_typer(cir_app, name="cir")


@cir_app.command("train")
def train_cir(
    stage: Annotated[str | None, typer.Option("--stage", help="1 | 2 | both (default: train_cir.stage)")] = None,
    no_track: NoTrackOption = False,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Train a composed-query model on triplets: stage 1 (in-batch negatives), stage 2 (frozen image tower, static
    bank of every gallery image) or both; score Recall@1/5/10/50 on held-out references (paper 6)."""
    from embedlab.config import load_settings
    from embedlab.config.cir import CIR_STAGES
    from embedlab.models.model_source import model_source
    from embedlab.cli.checks import require_file

    with user_errors():  # the stage, the triplet file and the towers before Prefect; the flow reads the triplets
        if stage is not None and stage not in CIR_STAGES:
            raise UserError(f"--stage must be one of {', '.join(CIR_STAGES)}, got {stage!r}")
        settings = load_settings(params, overrides or [])
        chosen = settings.params.train_cir
        require_file(settings.path(chosen.triplets.path), "triplet file", "train_cir.triplets.path")
        for spec in (chosen.text_tower, chosen.image_tower):
            if isinstance(spec, str):
                model_source(spec)

    from embedlab.flows.cir import CirRequest
    from embedlab.flows.cir import train_cir as train_flow

    request = CirRequest(stage=stage, settings=settings,
                         track=tracking_on(settings, no_track))
    with running_flow():
        result = train_flow(request)
    if "scores" in result:
        recalls = "  ".join(f"R@{key.split('_')[-1]} {100 * value:.1f}%" for key, value in result["scores"].items()
                            if key.startswith("recall_at_"))
        typer.echo(f"{result['label']}: {recalls}  ({result['train_seconds'] + result['bank_seconds']:.0f} s "
                   f"training) -> {shown(settings.path(chosen.output) / result['variant'])}")


@cir_app.command("compare")
def compare_cir(
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Write the results table of every variant trained under train_cir.output (Recall@K, wall time) to its
    table/ folder."""
    from embedlab.config import load_settings
    from embedlab.tasks.cir.report import read_variants

    with user_errors():  # at least one trained variant before Prefect starts
        settings = load_settings(params, overrides or [])
        read_variants(settings.path(settings.params.train_cir.output))

    from embedlab.flows.runs_table import RunsTableRequest, compare_runs

    with running_flow():
        result = compare_runs(RunsTableRequest(pipeline="cir", settings=settings))
    typer.echo(result["table"])
    typer.echo(f"-> {shown(Path(result['outputs']['report.md']))}")
