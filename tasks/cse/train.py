"""Prefect tasks of sentence-representation learning (`embedlab cse`): read the training data and the evaluation
pairs, hold out pairs for the diagnostics, train with the diagnostics callback, draw the diagnostics.

Papers: Li et al. 2024, unified gradient paradigm (arXiv 2402.18281); Li et al. 2024, NGCSE / FDI
(arXiv 2309.06453). Training reuses `embedlab.tasks.train.train_encoder` (Lightning).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from embedlab.atomic import atomic_write_text
from embedlab.config import CseParams, DiagnosticsParams, Settings
from embedlab.errors import DataError, unknown_name
from embedlab.eval_tasks.readers import read_rows
from embedlab.eval_tasks.spec import FileSpec
from embedlab.models.diagnostics import AlignUniformMonitor, fdi_means
from embedlab.models.losses import CSE_OBJECTIVES
from embedlab.tasks.train import train_encoder
from embedlab.train_tasks import load_train_task
from embedlab.train_tasks.spec import TrainTaskSpec
from embedlab.train_tasks.task import TrainTask

FORMATS = {"wiki": "sentences", "nli": "pairs", "generated": "hierarchical"}
STS_LAYOUT = {"score": 4, "sentence1": 5, "sentence2": 6}  # genre, file, year, id, score, s1, s2
COMPONENT_TAGS = {"margin": "m", "weight_temperature": "t", "weight_power": "p", "ratio": "r"}


def check_objective(params: CseParams) -> None:
    """UserError unless `params.objective` is a CSE objective and `params.options` are its own parameters."""
    CSE_OBJECTIVES.params(params.objective, params.options, where="cse.options")


def loss_options(params: CseParams) -> dict[str, Any]:
    """The objective's keyword options: its own `options` and the paradigm components that are set."""
    return {**params.options, **params.paradigm.model_dump(exclude_none=True)}


def run_name(params: CseParams) -> str:
    """`<data>-<objective>` plus one tag per paradigm component, e.g. `wiki-vicreg-m0.3-t0.05-r1.5`."""
    components = params.paradigm.model_dump(exclude_none=True)
    return "-".join([params.data, params.objective, *(f"{COMPONENT_TAGS[k]}{v:g}" for k, v in components.items())])


def table_run(settings: Settings, name: str) -> CseParams:
    """The `cse` section with run `name` of `cse_table.runs` in place of its objective, options and paradigm."""
    runs = settings.params.cse_table.runs
    if name not in runs:
        raise unknown_name("cse_table run", name, runs)
    run = runs[name]
    return settings.params.cse.model_copy(update={"objective": run.objective, "options": run.options,
                                                   "paradigm": run.paradigm})


def run_dir(settings: Settings, params: CseParams, table_name: str | None = None) -> Path:
    """<cse_table.output>/runs/<table_name> for a run of the table, else <cse.output>/<run_name(params)>."""
    if table_name:
        return settings.path(settings.params.cse_table.output) / "runs" / table_name
    return settings.path(params.output) / run_name(params)


def generated_file(settings: Settings) -> Path:
    """The generated sentences `cse.data: generated` trains on (`generate.sentences.output`)."""
    return settings.path(settings.params.generate.sentences.output)


def check_data(params: CseParams, generated: Path) -> None:
    """DataError naming the file and the commands that write it when `generated` data does not exist yet."""
    if params.data == "generated" and not generated.is_file():
        raise DataError(generated, "file not found (generate.sentences.output); write it with `embedlab generate "
                                   "sentences` or `dvc repro pipelines/llm/dvc.yaml`")


def train_task_spec(params: CseParams, generated: Path) -> TrainTaskSpec:
    """The training task of `params.data`: its file (`generated`: the generated sentences), format and the
    objective as its loss."""
    if params.data == "generated":
        file = FileSpec(path=str(generated))
    else:
        file = getattr(params, params.data)
    return TrainTaskSpec(format=FORMATS[params.data], files={"train": file}, loss=params.objective,
                         loss_scale=1 / params.temperature)


@task(cache_policy=NO_CACHE)
def read_cse_data(params: CseParams, data_root: Path, generated: Path) -> TrainTask:
    """Read the training data (files under `data_root`; `generated`: see `generated_file`); DataError naming the
    file for a missing, empty or malformed one."""
    check_data(params, generated)
    return load_train_task(params.data, train_task_spec(params, generated), data_root, params.seed)


def hold_out(train_task: TrainTask, fraction: float, max_pairs: int,
             seed: int) -> tuple[TrainTask, list[tuple[str, str]]]:
    """A seeded `fraction` (at least two) of the examples left out of training; returns the rest and at most
    `max_pairs` of the held-out ones as (first, second) text pairs."""
    count = len(train_task)
    size = max(2, round(fraction * count))  # uniformity needs two pairs
    if size >= count:
        raise DataError(train_task.spec.files["train"].path, f"{count} example(s): too few to hold some out")
    held = set(random.Random(seed).sample(range(count), size))
    kept = [e for i, e in enumerate(train_task.examples) if i not in held]
    pairs = [train_task.examples[i].texts[:2] for i in sorted(held)][:max_pairs]
    return train_task.with_examples(kept), pairs


def _scored_pairs(data_root: Path, files: list[str]) -> list[tuple[str, str, float]]:
    """(sentence1, sentence2, score) of every row of the STS-B-layout `files` under `data_root`, in file order."""
    spec = FileSpec(path="", format="tsv", header=False, columns=STS_LAYOUT)
    rows = []
    for name in files:
        path = data_root / name
        for line, row in read_rows(path, "test", spec, ("sentence1", "sentence2", "score")):
            try:
                rows.append((row["sentence1"], row["sentence2"], float(row["score"])))
            except ValueError:
                raise DataError(path, f"score {row['score']!r} is not a number", line) from None
    return rows


@task(cache_policy=NO_CACHE)
def read_eval_pairs(data_root: Path, diagnostics: DiagnosticsParams, seed: int) -> list[tuple[str, str]]:
    """STS-B-layout pairs scoring at least `min_score` from `eval_files`, a seeded sample of `max_pairs`."""
    pairs = [(a, b) for a, b, score in _scored_pairs(data_root, diagnostics.eval_files)
             if score >= diagnostics.min_score]
    if len(pairs) < 2:
        raise DataError(data_root / diagnostics.eval_files[0], f"fewer than 2 pairs score >= {diagnostics.min_score}")
    return random.Random(seed).sample(pairs, min(len(pairs), diagnostics.max_pairs))


@task(cache_policy=NO_CACHE)
def read_eval_sentences(data_root: Path, diagnostics: DiagnosticsParams) -> list[str]:
    """The evaluation uniformity set, as the authors' `load_stsb(mode='all')` (NGCSE tools.py): both sentences
    of the `eval_files` pairs scoring ≥ `min_score` or ≤ `low_score`, the first `uniform_sentences`."""
    sentences = [text for a, b, score in _scored_pairs(data_root, diagnostics.eval_files)
                 if score >= diagnostics.min_score or score <= diagnostics.low_score for text in (a, b)]
    if len(sentences) < 2:
        raise DataError(data_root / diagnostics.eval_files[0], "fewer than 2 sentences for evaluation uniformity")
    return sentences[:diagnostics.uniform_sentences]


@task(cache_policy=NO_CACHE)
def train_cse(train_task: TrainTask, held_out: list[tuple[str, str]], eval_pairs: list[tuple[str, str]],
              params: CseParams, out_dir: Path, logger: Any = False,
              eval_sentences: list[str] | None = None) -> dict[str, Any]:
    """Train with the objective and its options, measuring alignment, uniformity and FDI along the way.

    `max_steps` null trains one epoch. Returns the training summary plus `diagnostics` (one point per
    measurement) and `fdi` (the means).
    """
    monitor = AlignUniformMonitor(held_out, eval_pairs, params.diagnostics.every, params.diagnostics.batch_size,
                                  params.diagnostics.train_mode, eval_sentences)
    steps = params.max_steps or max(1, len(train_task) // params.batch_size)  # null: one epoch
    summary = train_encoder([train_task], params.model_copy(update={"max_steps": steps}), out_dir, logger,
                            loss_options={train_task.name: loss_options(params)}, callbacks=[monitor])
    return {**summary, "diagnostics": monitor.history, "fdi": fdi_means(monitor.history)}


@task(cache_policy=NO_CACHE)
def plot_diagnostics(history: list[dict[str, float]], path: Path, title: str) -> Path:
    """Alignment and uniformity of the held-out training pairs and the evaluation pairs over the steps (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [point["step"] for point in history]
    fdi = fdi_means(history)
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for axis, metric, label in ((axes[0], "align", "alignment A"), (axes[1], "uniform", "uniformity U")):
        for split, style in (("train", "-o"), ("eval", "--s")):
            axis.plot(steps, [point[f"{metric}_{split}"] for point in history], style, label=split, markersize=3)
        axis.set(xlabel="step", title=f"{label} (FDI {fdi[f'fdi_{metric}']:+.3f})")
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def write_outputs(summary: dict[str, Any], out_dir: Path) -> list[Path]:
    """out_dir/cse.json (the whole summary) and out_dir/metrics.json (flat numbers, for `dvc metrics`)."""
    metrics = {**summary["scores"], **summary["fdi"], "steps": summary["steps"]}
    paths = [out_dir / "cse.json", out_dir / "metrics.json"]
    for path, content in zip(paths, (summary, metrics)):
        atomic_write_text(path, json.dumps(content, indent=2) + "\n")
    return paths
