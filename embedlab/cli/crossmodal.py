"""`embedlab crossmodal prepare|train|evaluate|compare`: image–text dual encoders (papers 4, 7)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from embedlab.cli.app import (
    JsonOption, NoTrackOption, ParamsOption, SetOption, app, command_settings, cwd_path, echo_table, running_flow,
    shown, stdout_for_json, tracking_on,
)
from embedlab.errors import UserError
from embedlab.models.objectives import OBJECTIVES

crossmodal_app = typer.Typer(no_args_is_help=True, help="Image–text dual encoders across languages (papers 4, 7).")
app.add_typer(crossmodal_app, name="crossmodal")


@crossmodal_app.command("prepare")
def prepare_crossmodal(
    output: Annotated[str | None, typer.Option("--output", "-o", help="dataset folder (default: prepare_crossmodal.out)")] = None,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Join image captions across languages, split by image (seeded), write the versioned dataset (papers 4, 7)."""
    from embedlab.atomic import check_output_dir
    from embedlab.cli.checks import require_file
    from embedlab.tasks.crossmodal.data import source_paths

    output = cwd_path(output)
    # the source's files and the output folder before Prefect; the flow reads the captions
    with command_settings(params, overrides) as settings:
        for path in source_paths(settings.params.prepare_crossmodal, settings.data_root):
            require_file(path, "caption source", "prepare_crossmodal")
        out = settings.path(output or settings.params.prepare_crossmodal.out)
        check_output_dir(out, [settings.data_root])

    from embedlab.flows.crossmodal import CrossModalRequest
    from embedlab.flows.crossmodal import prepare_crossmodal as prepare_flow

    request = CrossModalRequest(output=output, settings=settings)
    with running_flow():
        manifest = prepare_flow(request)
    for name, split in manifest["splits"].items():
        counts = ", ".join(f"{lang} {n}" for lang, n in split["captions"].items())
        typer.echo(f"{name:<6} {split['images']:>6} images  captions: {counts}")
    typer.echo(f"version {manifest['version']} -> {shown(out)}")


@crossmodal_app.command("train")
def train_crossmodal(
    objective: Annotated[str | None, typer.Option(
        "--objective", help=f"{OBJECTIVES.choices()} (default: train_crossmodal.objective)")] = None,
    no_track: NoTrackOption = False,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Train an image–text dual encoder with one objective; score Recall@K per language and MRV (papers 4, 7)."""
    from embedlab.cli.checks import require_towers
    from embedlab.image_text.dataset import read_manifest

    # objective, its parameters, the dataset and the towers are checked before Prefect starts
    with command_settings(params, overrides) as settings:
        chosen = settings.params.train_crossmodal
        name = objective or chosen.objective
        OBJECTIVES.params(name, chosen.objectives.get(name, {}))
        read_manifest(settings.path(chosen.dataset))
        require_towers(chosen.text_tower, chosen.image_tower)

    from embedlab.flows.crossmodal import CrossModalRequest
    from embedlab.flows.crossmodal import train_crossmodal as train_flow

    request = CrossModalRequest(objective=name, settings=settings, track=tracking_on(settings, no_track))
    with running_flow():
        result = train_flow(request)
    if "scores" in result:
        s = result["scores"]
        typer.echo(f"{name}: mean recall {100 * s['mean_recall']:.2f}%  MRV {s['mrv']:.2f}  "
                   f"({result['train_seconds']:.0f} s training) -> {shown(settings.path(chosen.output) / name)}")


@crossmodal_app.command("compare")
def compare_crossmodal(
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Write the results table of every objective trained under train_crossmodal.output to its table/ folder."""
    from embedlab.tasks.crossmodal.report import read_runs

    with command_settings(params, overrides) as settings:  # at least one trained run before Prefect starts
        read_runs(settings.path(settings.params.train_crossmodal.output))

    from embedlab.flows.runs_table import RunsTableRequest, compare_runs

    with running_flow():
        echo_table(compare_runs(RunsTableRequest(pipeline="crossmodal", settings=settings)))


@crossmodal_app.command("evaluate")
def evaluate_crossmodal(
    model: Annotated[str, typer.Option("--model", "-m", help="a dual-encoder folder (from crossmodal train)")],
    split: Annotated[str | None, typer.Option("--split", help="val | test (default: train_crossmodal.eval_split)")] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="output folder")] = "results/evaluate-crossmodal",
    as_json: JsonOption = False,
    no_track: NoTrackOption = False,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Score a dual encoder on the crossmodal_retrieval task: Recall@K per language and direction, MRV."""
    from pydantic import ValidationError

    from embedlab.atomic import check_output_dir
    from embedlab.eval_tasks.crossmodal import CrossModalEvalSpec
    from embedlab.image_text.dataset import read_manifest

    output, model = cwd_path(output), cwd_path(model)
    # the model folder, the dataset and the split are checked before Prefect starts
    with command_settings(params, overrides) as settings:
        chosen = settings.params.train_crossmodal
        try:
            spec = CrossModalEvalSpec(dataset=chosen.dataset, languages=chosen.languages, split=split or chosen.eval_split)
        except ValidationError as exc:
            raise UserError(f"--split: {exc.errors()[0]['msg']}") from None
        if not (settings.path(model) / "dual_encoder.json").is_file():
            raise UserError(f"{model} is not a dual-encoder folder (no dual_encoder.json); train one with "
                            "`embedlab crossmodal train`")
        read_manifest(settings.path(chosen.dataset))
        check_output_dir(settings.path(output), [settings.path(model), settings.path(chosen.dataset)])

    from embedlab.flows.crossmodal import EvaluateCrossModalRequest
    from embedlab.flows.crossmodal import evaluate_crossmodal as evaluate_flow

    request = EvaluateCrossModalRequest(model=model, task=spec, output=output, settings=settings, track=tracking_on(settings, no_track))
    with running_flow(), stdout_for_json(as_json):
        results = evaluate_flow(request)
    if as_json:
        sys.stdout.write(json.dumps(results, allow_nan=False) + "\n")
        return
    scores = results[spec.name]
    typer.echo(f"{spec.name} ({spec.split}): mean recall {100 * scores['mean_recall']:.2f}%  MRV {scores['mrv']:.2f}  "
               + "  ".join(f"{lang} {100 * scores[f'{lang}.mean_recall']:.2f}%" for lang in spec.languages))
