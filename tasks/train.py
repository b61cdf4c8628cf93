"""Prefect tasks of the training flow: read the training tasks, mine hard negatives (cached), fit the model."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
from huggingface_hub import snapshot_download
from prefect import task
from prefect.cache_policies import NO_CACHE

from embedlab.atomic import atomic_write_text
from embedlab.cache_store import load_json, save_json
from embedlab.config import TrainParams
from embedlab.config.trainer import EncoderTrainerSettings
from embedlab.errors import DataError
from embedlab.models.data_module import TaskMixDataModule
from embedlab.models.embedding_module import EmbeddingModule
from embedlab.models.encoder import fingerprint, load_encoder
from embedlab.models.merging.weights import merge_blockers
from embedlab.models.mining import mine_hard_negatives
from embedlab.models.model_source import model_source
from embedlab.models.trainer import fit
from embedlab.tasks.logs import run_logger
from embedlab.train_tasks import check_train_task_names, load_train_task
from embedlab.train_tasks.retrieval import add_hard_negatives, read_retrieval_data
from embedlab.train_tasks.task import TrainTask


def load_train_tasks(names: list[str], params: TrainParams, data_root: Path) -> list[TrainTask]:
    """Read every task's files; DataError for an empty or malformed file, before any training."""
    check_train_task_names(names, params.tasks)
    return [load_train_task(name, params.tasks[name], data_root, params.seed) for name in names]


read_train_tasks = task(cache_policy=NO_CACHE, name="read_train_tasks")(load_train_tasks)


def _mining_cache_file(task: TrainTask, base_fingerprint: str, cache_dir: Path) -> Path:
    spec = task.spec.model_dump_json(include={"files", "hard_negatives", "mining_skip"})
    key = hashlib.sha256(spec.encode()).hexdigest()[:12]
    return cache_dir / "hard_negatives" / f"{task.name}-{base_fingerprint}-{key}.entry"


def add_mined_negatives(train_task: TrainTask, base: str, data_root: Path, cache_dir: Path,
                        max_seq_length: int | None = None) -> TrainTask:
    """Add mined hard negatives to a retrieval task (others pass through unchanged).

    Mining uses the base model, reading at most `max_seq_length` tokens where given (the length training reads;
    half of MiniLM's 256 halves the cost of encoding the corpus); its output is cached under
    cache_dir/hard_negatives/, keyed by the base model's fingerprint (which covers that length) and the task's
    files and mining settings.
    """
    if train_task.spec.format != "retrieval" or not train_task.spec.hard_negatives:
        return train_task
    data = read_retrieval_data(train_task.spec, data_root)
    model = load_encoder(base, "auto")
    if max_seq_length is not None:
        model.max_seq_length = max_seq_length
    cache = _mining_cache_file(train_task, fingerprint(model), cache_dir)
    negatives = load_json(cache)  # None where absent or damaged (then moved aside with one warning)
    if negatives is None:
        negatives = mine_hard_negatives(model, data.queries, data.corpus, data.relevant,
                                        train_task.spec.hard_negatives, train_task.spec.mining_skip)
        save_json(cache, negatives)
    mined = add_hard_negatives(train_task, data, negatives)
    if not mined.examples:
        raise DataError(train_task.spec.files["qrels"].path, f"no query of {train_task.name!r} has "
                        f"{train_task.spec.hard_negatives} hard negative(s) after skipping "
                        f"{train_task.spec.mining_skip}; lower mining_skip or hard_negatives")
    return mined


mine_negatives = task(cache_policy=NO_CACHE, name="mine_negatives")(add_mined_negatives)


@task(cache_policy=NO_CACHE)
def warn_if_unmergeable(base: str) -> list[str]:
    """Warn (Prefect log) where `embedlab merge` could not use `base` later as the θ0 of its task vectors;
    returns the warnings. A Hub id is checked where it is in the local cache."""
    source = Path(model_source(base))
    if not source.is_dir():
        try:
            source = Path(snapshot_download(str(source), local_files_only=True))
        except (OSError, ValueError):
            return []
    warnings = [f"base model {base}: the merge step could not use it later: {reason}"
                for reason in merge_blockers(source)]
    for warning in warnings:
        run_logger().warning(warning)
    return warnings


def train_encoder(train_tasks: list[TrainTask], params: EncoderTrainerSettings, out_dir: Path, logger: Any = False,
                  loss_options: dict[str, dict[str, Any]] | None = None, callbacks: Sequence[L.Callback] = (),
                  sampling: str = "proportional", alpha: float = 1.0) -> dict[str, Any]:
    """Fine-tune `params.base` on the tasks (one task: its own batch size, steps and learning rate where set).

    `loss_options` (task name -> keyword options of its loss) and `callbacks` (extra Lightning callbacks, e.g.
    diagnostics) are optional; `sampling` and `alpha` draw the task of each step of a joint training (with one
    task every step draws it).

    Resumes from out_dir/checkpoints/last.ckpt if present (exactly: it ends with the weights of an uninterrupted
    run); writes out_dir/model and out_dir/summary.json. Returns the summary: `steps` (the model's, all runs),
    `steps_run` (this run's; fewer after a resume), `seconds` (the model's training wall time, all runs up to their
    last checkpoint), `seconds_run` and `samples_per_second` (this run), the realised task mix (all runs).
    """
    single = train_tasks[0].spec if len(train_tasks) == 1 else None
    batch_size = (single and single.batch_size) or params.batch_size
    max_steps = (single and single.max_steps) or params.max_steps
    optimizer = params.optimizer_options(single and single.lr)
    L.seed_everything(params.seed, workers=True, verbose=False)
    module = EmbeddingModule(params.base, {t.name: (t.spec.loss, t.spec.loss_scale) for t in train_tasks},
                             **optimizer.as_kwargs(), pooling=params.pooling, normalize=params.normalize,
                             max_seq_length=params.max_seq_length, loss_options=loss_options)
    data = TaskMixDataModule({t.name: t.examples for t in train_tasks}, module.encoder.preprocess, batch_size,
                             sampling, alpha, params.seed)
    result = fit(module, data, out_dir, **params.trainer_options(max_steps).as_kwargs(), logger=logger,
                 callbacks=callbacks)
    total = sum(result.task_steps.values()) or 1
    summary = {
        "tasks": {t.name: len(t) for t in train_tasks}, "base": params.base, "model": str(out_dir / "model"),
        "steps": result.steps, "steps_run": result.steps_run, "batch_size": batch_size, "lr": optimizer.lr,
        "seconds": round(result.seconds_total, 3), "seconds_run": round(result.seconds, 3),
        "samples_per_second": round(result.samples_run / result.seconds, 3) if result.steps_run else None,
        "task_mix": {name: count / total for name, count in result.task_steps.items()},
        "sampling": sampling if len(train_tasks) > 1 else None, "is_global_zero": result.is_global_zero,
    }
    if result.is_global_zero:
        atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


@task(cache_policy=NO_CACHE)
def train_model(train_tasks: list[TrainTask], params: TrainParams, out_dir: Path,
                logger: Any = False) -> dict[str, Any]:
    """`train_encoder` with the `train` section's task sampling (joint training)."""
    return train_encoder(train_tasks, params, out_dir, logger, sampling=params.sampling, alpha=params.alpha)
