"""Prefect tasks of the comparison flow: find the variants and the compute each cost, read the evaluation suite,
load a variant for scoring.

A variant is a model of the comparison of Li et al. 2024 (arXiv 2410.15035): the base, one model per training
task, joint training per sampling strategy, and each merge of the per-task models. Compute is what producing it
cost in training: wall seconds and training samples seen (steps × batch size). A merge counts the per-task
trainings it merged plus its own seconds and, for Self Positioning, the probe examples of its search. The base
costs nothing here. Seconds are those a training recorded (its last process, after a resume). With several
`compare.seeds`, each seed's trained variants lie in folders of their own (`variant_folders`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import ValidationError

from embedlab.config import Settings
from embedlab.config.training import CompareParams, TrainParams
from embedlab.errors import UserError, unknown_name
from embedlab.eval_tasks.loading import EvalTask, load_task
from embedlab.eval_tasks.registry import read_task_file
from embedlab.eval_tasks.spec import EvalTaskSpec
from embedlab.tasks.prepare import TASK_FILE

KINDS = ("base", "task", "joint", "merge")


@dataclass
class Variant:
    """One row of the comparison: `name` (e.g. `sts`, `joint-temperature`, `merge-ties`), its `kind` (one of
    KINDS), the model folder or spec, and its compute: `seconds` and `samples` (None where unknown)."""

    name: str
    kind: str
    model: str
    seconds: float | None = 0.0
    samples: int | None = 0
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def training_compute(summary_file: Path) -> tuple[float, int]:
    """(wall seconds, samples) of a training from its summary.json: samples = steps × batch size."""
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    return float(summary["seconds"]), int(summary["steps"]) * int(summary["batch_size"])


def _trained(name: str, kind: str, folder: Path, how: str) -> Variant:
    model, summary = folder / "model", folder / "summary.json"
    if not model.is_dir() or not summary.is_file():
        raise UserError(f"{kind} variant {name!r}: {model} or its summary.json is missing; {how}")
    seconds, samples = training_compute(summary)
    return Variant(name, kind, str(model), seconds, samples)


def merge_compute(folder: Path, trainings: dict[str, Variant],
                  project_dir: Path) -> tuple[float | None, int | None, dict[str, Any]]:
    """A merged folder's compute: the per-task trainings it merged (matched by model folder; relative specs in
    merge.json start from `project_dir`) plus its summary.json's seconds and search samples. (None, None) where
    a merged model is not one of `trainings`."""
    record = json.loads((folder / "merge.json").read_text(encoding="utf-8"))
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    by_model = {str(Path(v.model).resolve()): v for v in trainings.values()}
    merged = [by_model.get(str((project_dir / spec).resolve())) for spec in record["models"]]
    search = summary.get("search") or {}
    details = {"merged": [v.name if v else spec for v, spec in zip(merged, record["models"])],
               "merge_seconds": summary["seconds"], "search_samples": search.get("samples", 0),
               "search_seconds": search.get("seconds", 0.0)}
    if any(v is None for v in merged):
        return None, None, details
    seconds = sum(v.seconds for v in merged) + float(summary["seconds"])
    samples = sum(v.samples for v in merged) + int(search.get("samples", 0))
    return seconds, samples, details


def variant_folders(settings: Settings, seed: int | None = None) -> dict[str, Path]:
    """Where the trained variants lie: `train` (a folder per training task), `joint` (joint-<sampling>) and `merge`
    (a folder per method). `seed` None: the default folders (`train.output`, `compare.joint_output`,
    `compare.merge_output`); a seed of several: `<compare.seed_output>/seed-<seed>/{train,joint,merge}`."""
    train, compare = settings.params.train, settings.params.compare
    if seed is None:
        return {"train": settings.path(train.output), "joint": settings.path(compare.joint_output),
                "merge": settings.path(compare.merge_output)}
    root = settings.path(compare.seed_output) / f"seed-{seed}"
    return {kind: root / kind for kind in ("train", "joint", "merge")}


def seed_folders(settings: Settings) -> dict[int | None, dict[str, Path]]:
    """The folders to score (`variant_folders`): {None: the default folders} for one `compare.seeds`, else
    {seed: that seed's folders} for each."""
    seeds = settings.params.compare.seeds
    return {seed: variant_folders(settings, seed) for seed in (seeds if len(seeds) > 1 else [None])}


def comparison_variants(train: TrainParams, compare: CompareParams, folders: dict[str, Path], seed: int | None,
                        project_dir: Path) -> list[Variant]:
    """Every variant of the comparison, in table order, from `folders` (those of `seed`, see `variant_folders`);
    UserError naming the first missing model."""
    by_hand = f"`dvc repro pipelines/seeds/dvc.yaml` (seed {seed})" if seed is not None else "`dvc repro`"
    variants = [Variant("base", "base", train.base)]
    trainings = {}
    for name in train.tasks:
        trainings[name] = _trained(name, "task", folders["train"] / name,
                                   f"train it with `embedlab train --task {name}` (or {by_hand})")
    variants += trainings.values()
    for sampling in compare.samplings:
        folder = folders["joint"] / f"joint-{sampling}"
        variants.append(_trained(f"joint-{sampling}", "joint", folder,
                                 f"train it with `embedlab train --joint --sampling {sampling} -S train.output="
                                 f"{folders['joint']} -S train.max_steps={compare.joint_steps}` (or {by_hand})"))
    for method in compare.merges:
        folder = folders["merge"] / method
        if not (folder / "merge.json").is_file() or not (folder / "summary.json").is_file():
            raise UserError(f"merge variant {method!r}: {folder} is missing or incomplete; merge with "
                            f"`embedlab merge --trained --method {method} --out {folder}` (or {by_hand})")
        seconds, samples, details = merge_compute(folder, trainings, project_dir)
        variants.append(Variant(f"merge-{method}", "merge", str(folder), seconds, samples, details))
    return variants


def variants_by_seed(train: TrainParams, compare: CompareParams, folders: dict[int | None, dict[str, Path]],
                     project_dir: Path) -> dict[int | None, list[Variant]]:
    """The variants to score, by seed of `folders` (`seed_folders`); UserError naming the first missing model."""
    return {seed: comparison_variants(train, compare, chosen, seed, project_dir) for seed, chosen in folders.items()}


list_variants = task(cache_policy=NO_CACHE, name="list_variants")(variants_by_seed)


def compare_specs(settings: Settings) -> tuple[list[EvalTaskSpec], Path]:
    """The evaluation suite: the prepared tasks named in `compare.tasks` (all where empty), each with its
    `compare.task_options` applied; and the folder their file paths start from. UserError for an unknown
    name or an invalid option."""
    compare = settings.params.compare
    task_file = settings.path(settings.params.prepare.out) / TASK_FILE
    if not task_file.is_file():
        raise UserError(f"{task_file} does not exist: prepare the evaluation data first (`embedlab prepare`)")
    prepared = {spec.name: spec for spec in read_task_file(task_file)}
    names = compare.tasks or list(prepared)
    for name in [*names, *compare.task_options]:
        if name not in prepared:
            raise unknown_name("prepared evaluation task (compare.tasks, compare.task_options)", name, prepared)
    specs = []
    for name in names:
        spec = prepared[name]
        options = compare.task_options.get(name)
        if options:
            try:
                spec = EvalTaskSpec.model_validate({**spec.model_dump(), **options})
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(part) for part in first["loc"])
                raise UserError(f"compare.task_options.{name}: {where + ': ' if where else ''}{first['msg']}") from None
        specs.append(spec)
    return specs, task_file.parent


@task(cache_policy=NO_CACHE)
def read_compare_tasks(specs: list[EvalTaskSpec], base_dir: Path) -> list[EvalTask]:
    """Read and validate the evaluation suite (`compare_specs`) before any model is loaded."""
    return [load_task(spec, base_dir) for spec in specs]


@task(cache_policy=NO_CACHE)
def load_variant(variant: Variant, device: str, batch_size: int, precision: str, max_seq_length: int | None) -> Any:
    """A variant's encoder for scoring (`embedlab.tasks.evaluate.LoadedModel`), reading at most
    `max_seq_length` tokens (None: the model's own), fingerprinted as loaded."""
    from embedlab.models.encoder import fingerprint, load_encoder
    from embedlab.models.mteb_encoder import SentenceEncoder
    from embedlab.tasks.evaluate import LoadedModel

    model = load_encoder(variant.model, device, precision)
    if max_seq_length is not None:
        model.max_seq_length = max_seq_length
    return LoadedModel(spec=variant.model, fingerprint=fingerprint(model),
                       encoder=SentenceEncoder(model, variant.name, batch_size, show_progress_bar=False))
