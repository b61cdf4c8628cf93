"""`embedlab cir train|compare`: composed image retrieval (paper 6, SPN4CIR)."""

from __future__ import annotations

from typing import Annotated

import typer

from embedlab.cli.app import (
    NoTrackOption, ParamsOption, SetOption, app, command_settings, echo_table, running_flow, shown, tracking_on,
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
    from embedlab.cli.checks import require_file, require_towers
    from embedlab.config.cir import CIR_STAGES

    # the stage, the triplet file and the towers before Prefect; the flow reads the triplets
    with command_settings(params, overrides) as settings:
        if stage is not None and stage not in CIR_STAGES:
            raise UserError(f"--stage must be one of {', '.join(CIR_STAGES)}, got {stage!r}")
        chosen = settings.params.train_cir
        require_file(settings.path(chosen.triplets.path), "triplet file", "train_cir.triplets.path")
        require_towers(chosen.text_tower, chosen.image_tower)

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
    from embedlab.tasks.cir.report import read_variants

    with command_settings(params, overrides) as settings:  # at least one trained variant before Prefect starts
        read_variants(settings.path(settings.params.train_cir.output))

    from embedlab.flows.runs_table import RunsTableRequest, compare_runs

    with running_flow():
        echo_table(compare_runs(RunsTableRequest(pipeline="cir", settings=settings)))
