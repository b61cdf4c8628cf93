"""`embedlab generate sentences|triplets`: training data from an LLM or MLLM (papers 9 and 6)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embedlab.cli.app import (
    NoTrackOption, ParamsOption, SetOption, app, command_settings, cwd_path, running_flow, shown, tracking_on,
)
from embedlab.errors import UserError


generate_app = typer.Typer(no_args_is_help=True, help="Generate training data with an LLM or MLLM (papers 9 and 6).")
app.add_typer(generate_app, name="generate")


def _print_generated(summary: dict, output: Path) -> None:
    rejected = ", ".join(f"{reason} {n}" for reason, n in summary["rejected"].items() if n) or "none"
    cost = f"{summary.get('calls', 0)} calls, {summary.get('cache_hits', 0)} cached"
    typer.echo(f"{summary['rows']} rows -> {shown(output)}  (rejected: {rejected}; {cost})")


@generate_app.command("sentences")
def generate_sentences(
    source: Annotated[Path | None, typer.Option("--source", help="one sentence per line (default: generate.sentences.source)")] = None,
    n: Annotated[int | None, typer.Option("--n", help="how many source sentences")] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="JSON-lines output file")] = None,
    no_track: NoTrackOption = False,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Hierarchical sentences by in-context learning: samples at several similarity levels per sentence."""
    from embedlab.cli.checks import require_file
    from embedlab.models.generation.backend import require_model

    options = {"generate.sentences.source": cwd_path(source), "generate.sentences.n": n}
    # files and the model before Prefect starts; the flow reads the files
    with command_settings(params, overrides, options) as settings:
        chosen = settings.params.generate
        require_file(settings.data_root / chosen.sentences.source, "source file", "generate.sentences.source")
        require_file(settings.path(chosen.sentences.prompt), "prompt file", "generate.sentences.prompt")
        require_model(chosen.llm, "generate.llm")

    from embedlab.flows.generate import GenerateRequest
    from embedlab.flows.generate import generate_sentences as sentences_flow

    request = GenerateRequest(settings=settings, output=cwd_path(output), track=tracking_on(settings, no_track))
    with running_flow():
        summary = sentences_flow(request)
    _print_generated(summary, settings.path(cwd_path(output) or chosen.sentences.output))


@generate_app.command("triplets")
def generate_triplets(
    images: Annotated[Path | None, typer.Option("--images", help="image folder (default: generate.triplets.images)")] = None,
    captions: Annotated[str | None, typer.Option("--captions", help="captions CSV (image,caption), or 'mllm'")] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="JSON-lines output file")] = None,
    no_track: NoTrackOption = False,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """(reference image, modification text, target image) triplets from captions and image similarity."""
    from embedlab.cli.checks import require_file
    from embedlab.models.generation.backend import require_model
    from embedlab.tasks.generate.triplets import MLLM, find_images

    options = {"generate.triplets.images": cwd_path(images),
               "generate.triplets.captions": captions if captions == MLLM else cwd_path(captions)}
    # the images, the caption file and the model before Prefect; the flow reads the captions
    with command_settings(params, overrides, options) as settings:
        chosen = settings.params.generate
        images_found = find_images(settings.data_root / chosen.triplets.images)
        if chosen.triplets.captions == MLLM:
            require_model(chosen.mllm, "generate.mllm")
        else:
            require_file(settings.data_root / chosen.triplets.captions, "captions file", "generate.triplets.captions")
        if chosen.triplets.rank_window and len(images_found) <= chosen.triplets.rank_window[1]:
            raise UserError(f"rank_window ends at {chosen.triplets.rank_window[1]}, but the image folder holds "
                            f"{len(images_found)} images")

    from embedlab.flows.generate import GenerateRequest
    from embedlab.flows.generate import generate_triplets as triplets_flow

    request = GenerateRequest(settings=settings, output=cwd_path(output), track=tracking_on(settings, no_track))
    with running_flow():
        summary = triplets_flow(request)
    _print_generated(summary, settings.path(cwd_path(output) or chosen.triplets.output))
