"""Prefect tasks of the merge flow: resolve model specs to folders, read a probe set, search a learned merge,
write the merged model atomically."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from prefect import task  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402

from embedlab.atomic import atomic_dir, check_output_dir  # noqa: E402
from embedlab.config import TrainParams  # noqa: E402
from embedlab.models.merging import METHODS  # noqa: E402
from embedlab.models.merging.base import LearnedMerge, MethodParams  # noqa: E402
from embedlab.models.merging.folder import local_folder, write_merged_folder  # noqa: E402
from embedlab.tasks.train import add_mined_negatives, load_train_tasks  # noqa: E402

SUMMARY, POSITIONING, LAMBDA_PLOT = "summary.json", "positioning.json", "lambdas.png"


@task(cache_policy=NO_CACHE)
def resolve_model(spec: str) -> Path:
    """The local folder of a model spec (folder, 'minilm', or Hugging Face id, fetched or from the cache)."""
    return local_folder(spec)


def probe_task_names(params: MethodParams, train: TrainParams) -> list[str]:
    """The training tasks a learned merge probes: its own `tasks`, else `train.joint_tasks`, else every task."""
    return list(getattr(params, "tasks", None) or train.joint_tasks or train.tasks)


@task(cache_policy=NO_CACHE)
def read_probe(params: MethodParams, train: TrainParams, data_root: Path, cache_dir: Path) -> Any:
    """The probe set of a learned merge: `params.probe_size` seeded examples of each training task (with the
    hard negatives its training mined, from the same cache), read at `train.max_seq_length` tokens."""
    from embedlab.models.merging.probe import ProbeSet, ProbeTask, sample_examples

    tasks = load_train_tasks(probe_task_names(params, train), train, data_root)
    tasks = [add_mined_negatives(t, train.base, data_root, cache_dir, train.max_seq_length) for t in tasks]
    return ProbeSet([ProbeTask(t.name, t.spec.loss, t.spec.loss_scale,
                               sample_examples(t.examples, params.probe_size, params.seed)) for t in tasks],
                    train.max_seq_length)


@task(cache_policy=NO_CACHE)
def search_merge(method: str, params: MethodParams, base: Path, models: list[Path], probe: Any) -> LearnedMerge:
    """Run a learned merge method's search (e.g. Self Positioning's λ) on the probe set."""
    return METHODS.get(method).search(params, base, models, probe)


def lambda_plot(path: Path, record: dict[str, Any], labels: list[str]) -> None:
    """PNG: the probe loss and each λ (one line per model and layer group) over the search steps."""
    history = record["history"]
    steps = [h["step"] for h in history]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.0, 6.0), sharex=True)
    top.plot(steps, [h["loss"] for h in history], color="black")
    top.set_ylabel("probe loss")
    top.set_title(f"Self Positioning ({record['granularity']}): search trajectory", fontsize=10)
    colours, groups = plt.get_cmap("tab10"), record["groups"]
    for i, label in enumerate(labels):  # one colour per model; per layer group, shades from light (first) to dark
        for j in range(len(groups)):
            shade = 1.0 if len(groups) == 1 else 0.3 + 0.7 * j / (len(groups) - 1)
            bottom.plot(steps, [h["lambdas"][i][j] for h in history], color=colours(i % 10), alpha=shade,
                        label=label if j == len(groups) - 1 else None)
    bottom.set_xlabel("step")
    bottom.set_ylabel("λ")
    bottom.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def model_label(spec: str) -> str:
    """A short name for a model spec: `results/train/sts/model` -> `sts`, `org/name` -> `name`."""
    parts = [part for part in Path(spec).parts if part not in ("model", ".")]
    return parts[-1] if parts else spec


@task(cache_policy=NO_CACHE)
def write_merged_model(method: str, params: MethodParams, base: Path, models: list[Path], out_dir: Path,
                       inputs: dict[str, Any], learned: LearnedMerge | None = None) -> dict[str, Any]:
    """Merge `models` onto `base` with `method` into a complete model folder at `out_dir`, atomically.

    The folder also holds merge.json (method, parameters and `inputs`, the specs as the user gave them) and
    summary.json (tensors, wall seconds of the merge, and for a learned merge the search's probe examples and
    seconds); a learned merge (`learned`, the result of `search_merge`) adds positioning.json (the search's
    record) and lambdas.png. Returns merge.json's record plus out, tensors, seconds (and search).
    UserError if the architectures differ or `out_dir` could lose a file (see `check_output_dir`).
    """
    check_output_dir(out_dir, [base, *models])
    start = time.perf_counter()
    record = {"method": method, "params": params.model_dump(by_alias=True), **inputs}
    merge = learned.merge if learned is not None else METHODS.get(method).build(params)
    with atomic_dir(out_dir) as tmp:
        tensors = write_merged_folder(base, models, merge, tmp)
        (tmp / "merge.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        summary: dict[str, Any] = {"tensors": tensors, "seconds": round(time.perf_counter() - start, 3)}
        if learned is not None:
            searched = learned.record()
            (tmp / POSITIONING).write_text(json.dumps(searched, indent=2) + "\n", encoding="utf-8")
            lambda_plot(tmp / LAMBDA_PLOT, searched, [model_label(m) for m in inputs.get("models", models)])
            summary["search"] = {"samples": searched["samples"], "seconds": searched["seconds"],
                                 "steps": len(searched["history"])}
            summary["seconds"] = round(summary["seconds"] + searched["seconds"], 3)
        (tmp / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return {**record, "out": str(out_dir), **summary}
