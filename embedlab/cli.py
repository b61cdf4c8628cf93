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


def _shown(path: Path) -> str:
    """`path` relative to the working folder where it lies below it, else as given."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


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
    from embedlab.eval_tasks.loading import load_tasks
    from embedlab.models.model_source import model_source

    try:  # check the user's input before Prefect starts, so mistakes fail fast in one line
        settings = load_settings(params, overrides or [])
        chosen = settings.params.evaluate
        names = task or ([] if task_file else chosen.tasks)
        files = task_file or [settings.path(p) for p in chosen.task_files]
        if chosen.source == "local":
            load_tasks(names, files, settings.data_root)
        else:
            from embedlab.tasks.evaluation import hub_task

            [hub_task(name) for name in names]
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
    from embedlab.config import load_settings
    from embedlab.tasks.prepare import configured_tasks

    try:  # names, task files and params are checked before Prefect starts
        settings = load_settings(params, overrides or [])
        configured_tasks.fn(settings)
    except UserError as error:
        _fail(error)

    from embedlab.flows.prepare import PrepareRequest
    from embedlab.flows.prepare import prepare as prepare_flow

    request = PrepareRequest(output=output, params_file=str(params) if params else None, overrides=overrides or [])
    try:
        index = prepare_flow(request)
    except UserError as error:
        _fail(error)
    out_dir = settings.path(output or settings.params.prepare.out)
    for name, entry in index["tasks"].items():
        counts = ", ".join(f"{role} {file['rows']}" for role, file in entry["files"].items())
        typer.echo(f"{name:<28} {entry['type']:<20} {counts}  -> {_shown(out_dir / entry['folder'])}")


@app.command()
def train(
    task: Annotated[str | None, typer.Option("--task", "-t", help="training task name (see params.yaml train.tasks)")] = None,
    joint: Annotated[bool, typer.Option("--joint", help="one model on all training tasks (train.joint_tasks)")] = False,
    base: Annotated[str | None, typer.Option("--base", help="model to fine-tune (default: train.base)")] = None,
    sampling: Annotated[str | None, typer.Option("--sampling", help="joint: proportional | uniform | temperature")] = None,
    alpha: Annotated[float | None, typer.Option("--alpha", help="temperature sampling exponent")] = None,
    no_track: Annotated[bool, typer.Option("--no-track", help="do not record an MLflow run")] = False,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Fine-tune an embedding model on one training task, or on all of them jointly (Lightning)."""
    from embedlab.config import load_settings
    from embedlab.models.model_source import model_source
    from embedlab.train_tasks import check_names

    chosen = {"train.base": base, "train.sampling": sampling, "train.alpha": alpha}
    overrides = (overrides or []) + [f"{key}={value}" for key, value in chosen.items() if value is not None]
    try:  # names, losses and params are checked before Prefect starts
        if joint == (task is not None):
            raise UserError("give either --task NAME or --joint")
        if not joint and (sampling or alpha is not None):
            raise UserError("--sampling and --alpha apply to --joint training only")
        settings = load_settings(params, overrides)
        names = [task] if task else settings.params.train.joint_tasks or list(settings.params.train.tasks)
        check_names(names, settings.params.train.tasks)
        model_source(settings.params.train.base)
    except UserError as error:
        _fail(error)

    from embedlab.flows.train import TrainRequest
    from embedlab.flows.train import train as train_flow

    request = TrainRequest(task=task, joint=joint, params_file=str(params) if params else None,
                           overrides=overrides, track=not no_track)
    try:
        summary = train_flow(request)
    except UserError as error:
        _fail(error)
    if summary["is_global_zero"]:
        mix = "  ".join(f"{name}={share:.2f}" for name, share in summary["task_mix"].items())
        typer.echo(f"model: {_shown(Path(summary['model']))}  steps: {summary['steps']}  task mix: {mix}")


def _method_override(method: str, item: str) -> str:
    """`-S key=value` without a dot sets a parameter of the merge method: `merge.methods.<method>.key=value`."""
    return item if "." in item.split("=", 1)[0] else f"merge.methods.{method}.{item}"


@app.command()
def merge(
    method: Annotated[str, typer.Option("--method", help="merge method, e.g. ties (a wrong name lists them)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="folder of the merged sentence-transformers model")],
    base: Annotated[str | None, typer.Option("--base", help="the model the others were fine-tuned from")] = None,
    model: Annotated[list[str] | None, typer.Option("--model", "-m", help="a fine-tuned model (repeatable)")] = None,
    trained: Annotated[bool, typer.Option("--trained", help="merge the per-task models of `embedlab train` "
                                          "(<train.output>/<task>/model for train.joint_tasks, else every task) "
                                          "onto train.base")] = False,
    no_track: Annotated[bool, typer.Option("--no-track", help="do not record an MLflow run")] = False,
    params: ParamsOption = None,
    overrides: Annotated[list[str] | None, typer.Option(
        "-S", "--set", help="a method parameter (e.g. -S density=0.3), or a dotted params.yaml key")] = None,
) -> None:
    """Merge fine-tuned models (folders, 'minilm' or Hub ids) that share the base's architecture.

    `self_positioning` learns its coefficients on a probe set drawn from the training tasks of params.yaml."""
    from embedlab.config import load_settings
    from embedlab.models.merging import get_method, method_params
    from embedlab.models.merging.folder import check_out_dir, local_folder
    from embedlab.models.merging.weights import index_models
    from embedlab.train_tasks import check_names

    overrides = [_method_override(method, item) for item in overrides or []]
    try:  # method, parameters, architectures (safetensors headers only) and --out are checked before Prefect starts
        settings = load_settings(params, overrides)
        chosen = method_params(method, settings.params.merge.methods.get(method, {}))
        train = settings.params.train
        if trained and model:
            raise UserError("give --model (repeatable) or --trained, not both")
        if trained:
            base = base or train.base
            model = [str(settings.path(train.output) / name / "model") for name in train.joint_tasks or train.tasks]
        if not base or not model:
            raise UserError("give --base and --model (repeatable), or --trained")
        if get_method(method).search is not None:  # the probe set's training tasks
            check_names(list(getattr(chosen, "tasks", None) or train.joint_tasks or train.tasks), train.tasks)
        folders = [local_folder(spec) for spec in [base, *model]]
        index_models(folders[0], folders[1:])
        check_out_dir(settings.path(out), folders)
    except UserError as error:
        _fail(error)

    from embedlab.flows.merge import MergeRequest
    from embedlab.flows.merge import merge as merge_flow

    request = MergeRequest(base=base, models=model, method=method, out=str(out),
                           params_file=str(params) if params else None, overrides=overrides, track=not no_track)
    try:
        summary = merge_flow(request)
    except UserError as error:
        _fail(error)
    typer.echo(f"merged {len(model)} models with {method} {summary['params']} "
               f"({summary['tensors']} tensors, {summary['seconds']:.1f} s) -> {_shown(Path(summary['out']))}")


generate_app = typer.Typer(no_args_is_help=True, help="Generate training data with an LLM or MLLM (papers 9 and 6).")
app.add_typer(generate_app, name="generate")
NoTrackOption = Annotated[bool, typer.Option("--no-track", help="do not record an MLflow run")]


def _path_override(key: str, path: Path) -> str:
    """`-S key=<absolute path>`, quoted so that YAML reads any path as a string."""
    return f"{key}={json.dumps(str(path.expanduser().resolve()))}"


def _print_generated(summary: dict, output: Path) -> None:
    rejected = ", ".join(f"{reason} {n}" for reason, n in summary["rejected"].items() if n) or "none"
    cost = f"{summary.get('calls', 0)} calls, {summary.get('cache_hits', 0)} cached"
    typer.echo(f"{summary['rows']} rows -> {_shown(output)}  (rejected: {rejected}; {cost})")


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
    from embedlab.config import load_settings
    from embedlab.models.generation.backend import require_model
    from embedlab.tasks.sentences import read_prompt_file, read_source_sentences

    overrides = list(overrides or [])
    if source is not None:
        overrides.append(_path_override("generate.sentences.source", source))
    if n is not None:
        overrides.append(f"generate.sentences.n={n}")
    try:  # inputs are checked before Prefect starts, so mistakes fail fast in one line
        settings = load_settings(params, overrides)
        chosen = settings.params.generate
        read_source_sentences.fn(settings.data_root / chosen.sentences.source, 1, chosen.sentences.min_words)
        read_prompt_file(settings.path(chosen.sentences.prompt))
        require_model(chosen.llm, "generate.llm")
    except UserError as error:
        _fail(error)

    from embedlab.flows.generate import GenerateRequest
    from embedlab.flows.generate import generate_sentences as sentences_flow

    request = GenerateRequest(params_file=str(params) if params else None, overrides=overrides, output=output,
                              track=not no_track)
    try:
        summary = sentences_flow(request)
    except UserError as error:
        _fail(error)
    _print_generated(summary, settings.path(output or chosen.sentences.output))


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
    from embedlab.config import load_settings
    from embedlab.models.generation.backend import require_model
    from embedlab.tasks.triplets import MLLM, list_images, read_captions

    overrides = list(overrides or [])
    if images is not None:
        overrides.append(_path_override("generate.triplets.images", images))
    if captions is not None:
        overrides.append("generate.triplets.captions=mllm" if captions == MLLM
                         else _path_override("generate.triplets.captions", Path(captions)))
    try:  # inputs are checked before Prefect starts, so mistakes fail fast in one line
        settings = load_settings(params, overrides)
        chosen = settings.params.generate
        images_found = list_images.fn(settings.data_root / chosen.triplets.images)
        if chosen.triplets.captions == MLLM:
            require_model(chosen.mllm, "generate.mllm")
        else:
            read_captions.fn(settings.data_root / chosen.triplets.captions, images_found, chosen.triplets.caption_index)
        if len(images_found) <= chosen.triplets.rank_window[1]:
            raise UserError(f"rank_window ends at {chosen.triplets.rank_window[1]}, but the image folder holds "
                            f"{len(images_found)} images")
    except UserError as error:
        _fail(error)

    from embedlab.flows.generate import GenerateRequest
    from embedlab.flows.generate import generate_triplets as triplets_flow

    request = GenerateRequest(params_file=str(params) if params else None, overrides=overrides, output=output,
                              track=not no_track)
    try:
        summary = triplets_flow(request)
    except UserError as error:
        _fail(error)
    _print_generated(summary, settings.path(output or chosen.triplets.output))


@app.command("prepare-crossmodal")
def prepare_crossmodal(
    output: Annotated[str | None, typer.Option("--output", "-o", help="dataset folder (default: prepare_crossmodal.out)")] = None,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Join image captions across languages, split by image (seeded), write the versioned dataset (papers 4, 7)."""
    from embedlab.config import load_settings
    from embedlab.tasks.image_text import read_image_captions

    try:  # caption files and images are checked before Prefect starts
        settings = load_settings(params, overrides or [])
        read_image_captions.fn(settings.params.prepare_crossmodal, settings.data_root)
    except UserError as error:
        _fail(error)

    from embedlab.flows.crossmodal import CrossModalRequest
    from embedlab.flows.crossmodal import prepare_crossmodal as prepare_flow

    request = CrossModalRequest(output=output, params_file=str(params) if params else None, overrides=overrides or [])
    try:
        manifest = prepare_flow(request)
    except UserError as error:
        _fail(error)
    out = settings.path(output or settings.params.prepare_crossmodal.out)
    for name, split in manifest["splits"].items():
        counts = ", ".join(f"{lang} {n}" for lang, n in split["captions"].items())
        typer.echo(f"{name:<6} {split['images']:>6} images  captions: {counts}")
    typer.echo(f"version {manifest['version']} -> {_shown(out)}")


@app.command("train-crossmodal")
def train_crossmodal(
    objective: Annotated[str | None, typer.Option("--objective", help="clip | one_to_k | cusa (default: train_crossmodal.objective)")] = None,
    no_track: Annotated[bool, typer.Option("--no-track", help="do not record an MLflow run")] = False,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Train an image–text dual encoder with one objective; score Recall@K per language and MRV (papers 4, 7)."""
    from embedlab.config import load_settings
    from embedlab.image_text.dataset import read_manifest
    from embedlab.models.model_source import model_source
    from embedlab.models.objectives import objective_params

    try:  # objective, its parameters, the dataset and the towers are checked before Prefect starts
        settings = load_settings(params, overrides or [])
        chosen = settings.params.train_crossmodal
        name = objective or chosen.objective
        objective_params(name, chosen.objectives.get(name, {}))
        read_manifest(settings.path(chosen.dataset))
        for spec in (chosen.text_tower, chosen.image_tower):
            if isinstance(spec, str):
                model_source(spec)
    except UserError as error:
        _fail(error)

    from embedlab.flows.crossmodal import CrossModalRequest
    from embedlab.flows.crossmodal import train_crossmodal as train_flow

    request = CrossModalRequest(objective=name, params_file=str(params) if params else None,
                                overrides=overrides or [], track=not no_track)
    try:
        result = train_flow(request)
    except UserError as error:
        _fail(error)
    if "scores" in result:
        s = result["scores"]
        typer.echo(f"{name}: mean recall {100 * s['mean_recall']:.2f}%  MRV {s['mrv']:.2f}  "
                   f"({result['train_seconds']:.0f} s training) -> {_shown(settings.path(chosen.output) / name)}")


@app.command("compare-crossmodal")
def compare_crossmodal(
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Write the comparison table of every objective trained under train_crossmodal.output."""
    from embedlab.config import load_settings
    from embedlab.tasks.crossmodal_report import write_comparison

    try:
        settings = load_settings(params, overrides or [])
        path = write_comparison(settings.path(settings.params.train_crossmodal.output))
    except UserError as error:
        _fail(error)
    typer.echo(path.read_text(encoding="utf-8"))
    typer.echo(f"-> {_shown(path)}")


@app.command("evaluate-crossmodal")
def evaluate_crossmodal(
    model: Annotated[str, typer.Option("--model", "-m", help="a dual-encoder folder (from train-crossmodal)")],
    split: Annotated[str | None, typer.Option("--split", help="val | test (default: train_crossmodal.eval_split)")] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="output folder")] = "results/evaluate-crossmodal",
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object on stdout")] = False,
    no_track: Annotated[bool, typer.Option("--no-track", help="do not record an MLflow run")] = False,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Score a dual encoder on the crossmodal_retrieval task: Recall@K per language and direction, MRV."""
    from pydantic import ValidationError

    from embedlab.config import load_settings
    from embedlab.eval_tasks.crossmodal import CrossModalEvalSpec
    from embedlab.image_text.dataset import read_manifest

    try:  # the model folder, the dataset and the split are checked before Prefect starts
        settings = load_settings(params, overrides or [])
        chosen = settings.params.train_crossmodal
        try:
            spec = CrossModalEvalSpec(dataset=chosen.dataset, languages=chosen.languages, split=split or chosen.eval_split)
        except ValidationError as exc:
            raise UserError(f"--split: {exc.errors()[0]['msg']}") from None
        if not (settings.path(model) / "dual_encoder.json").is_file():
            raise UserError(f"{model} is not a dual-encoder folder (no dual_encoder.json); train one with "
                            "`embedlab train-crossmodal`")
        read_manifest(settings.path(chosen.dataset))
    except UserError as error:
        _fail(error)

    from embedlab.flows.evaluate_crossmodal import EvaluateCrossModalRequest
    from embedlab.flows.evaluate_crossmodal import evaluate_crossmodal as evaluate_flow

    request = EvaluateCrossModalRequest(model=model, task=spec, output=output, overrides=overrides or [],
                                        params_file=str(params) if params else None, track=not no_track)
    try:
        results = evaluate_flow(request)
    except UserError as error:
        _fail(error)
    if as_json:
        sys.stdout.write(json.dumps(results, allow_nan=False) + "\n")
        return
    scores = results[spec.name]
    typer.echo(f"{spec.name} ({spec.split}): mean recall {100 * scores['mean_recall']:.2f}%  MRV {scores['mrv']:.2f}  "
               + "  ".join(f"{lang} {100 * scores[f'{lang}.mean_recall']:.2f}%" for lang in spec.languages))


@app.command("compare")
def compare_command(
    output: Annotated[str | None, typer.Option("--output", "-o", help="output folder (default: compare.output)")] = None,
    no_track: Annotated[bool, typer.Option("--no-track", help="do not record MLflow runs")] = False,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Score the base, the per-task models, joint trainings and merges on one suite; one table with compute
    (the comparison of Li et al. 2024; `dvc repro` builds every variant first)."""
    from embedlab.config import load_settings
    from embedlab.models.merging import get_method
    from embedlab.tasks.comparison import compare_specs, list_variants

    try:  # params, the suite and every variant's folder are checked before Prefect starts
        settings = load_settings(params, overrides or [])
        for method in settings.params.compare.merges:
            get_method(method)
        compare_specs(settings)
        list_variants.fn(settings)
    except UserError as error:
        _fail(error)

    from embedlab.flows.compare import CompareRequest
    from embedlab.flows.compare import compare as compare_flow
    from embedlab.tasks.compare_report import markdown_table

    request = CompareRequest(output=output, params_file=str(params) if params else None, overrides=overrides or [],
                             track=not no_track)
    try:
        result = compare_flow(request)
    except UserError as error:
        _fail(error)
    typer.echo(markdown_table(result["rows"]))
    typer.echo(f"-> {_shown(Path(result['outputs']['report.md']))}")


@app.command("tasks")
def list_tasks() -> None:
    """List the built-in evaluation tasks."""
    from embedlab.eval_tasks.registry import builtin_specs

    for spec in builtin_specs():
        typer.echo(f"{spec.name:<28} {spec.type:<16} {spec.resolved_main_score:<16} {spec.description}")


@app.command("cse")
def cse_command(
    objective: Annotated[str | None, typer.Option("--objective", help="e.g. infonce, arccon, mpt, met, align_uniform, "
                                                  "barlow_twins, vicreg, hierarchical (default: cse.objective)")] = None,
    data: Annotated[str | None, typer.Option("--data", help="wiki (dropout views) | nli (triples) | generated "
                                             "(hierarchical sentences); default: cse.data")] = None,
    no_track: Annotated[bool, typer.Option("--no-track", help="do not record an MLflow run")] = False,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Sentence embeddings in the SimCSE setting with an objective of the unified gradient paradigm, FDI
    diagnostics and an STSBenchmark score. Paradigm components: -S cse.paradigm.margin=0.3 (GD),
    -S cse.paradigm.weight_temperature=0.05 (W), -S cse.paradigm.ratio=1.5 (R)."""
    from embedlab.config import load_settings
    from embedlab.eval_tasks.loading import load_tasks
    from embedlab.models.model_source import model_source
    from embedlab.tasks.cse import check_objective

    chosen = {"cse.objective": objective, "cse.data": data}
    overrides = (overrides or []) + [f"{key}={value}" for key, value in chosen.items() if value is not None]
    try:  # objective, options, params, model and evaluation tasks are checked before Prefect starts
        settings = load_settings(params, overrides)
        check_objective(settings.params.cse)
        model_source(settings.params.cse.base)
        load_tasks(settings.params.cse.evaluate, [], settings.data_root)
    except UserError as error:
        _fail(error)

    from embedlab.flows.cse import CseRequest
    from embedlab.flows.cse import cse as cse_flow

    request = CseRequest(params_file=str(params) if params else None, overrides=overrides, track=not no_track)
    try:
        summary = cse_flow(request)
    except UserError as error:
        _fail(error)
    if summary["is_global_zero"]:
        scores = "  ".join(f"{name}={score:.4f}" for name, score in summary["scores"].items())
        fdi = summary["fdi"]
        typer.echo(f"model: {_shown(Path(summary['model']))}  steps: {summary['steps']}  {scores}  "
                   f"FDI align={fdi['fdi_align']:+.4f} uniform={fdi['fdi_uniform']:+.4f}")


def main() -> None:
    from embedlab.errors import quiet_user_errors_in_run_logs

    quiet_user_errors_in_run_logs()
    app()
