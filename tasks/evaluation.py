"""Prefect tasks of the evaluation flow: resolve and read the tasks, load the model, score each task."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mteb
from prefect import task
from prefect.cache_policies import NO_CACHE

from embedlab.errors import UserError
from embedlab.eval_tasks.loading import LoadedTask, load_tasks
from embedlab.eval_tasks.mteb_tasks import to_mteb_task
from embedlab.models.encoder import fingerprint, load_encoder
from embedlab.models.mteb_encoder import SentenceEncoder


@dataclass
class TaskScore:
    """One task's outcome: mteb's scores of the test split, its main score and the seconds spent."""

    name: str
    main_score_name: str
    main_score: float
    scores: dict[str, float]
    seconds: float
    file_hashes: dict[str, str]


@dataclass
class LoadedModel:
    spec: str
    fingerprint: str
    encoder: SentenceEncoder


@task(cache_policy=NO_CACHE)
def read_eval_tasks(names: list[str], task_files: list[Path], data_root: Path, source: str) -> list[Any]:
    """Read and validate every task before any encoding, so bad data fails fast and leaves nothing behind.

    With `source="hub"` the names are mteb task names whose data mteb downloads itself.
    """
    if source == "hub":
        return [hub_task(name) for name in names]
    return load_tasks(names, task_files, data_root)


def hub_task(name: str) -> Any:
    """mteb's own task `name`, which downloads its data from the Hugging Face Hub when evaluated."""
    try:
        return mteb.get_task(name)
    except KeyError:
        raise UserError(f"unknown mteb task {name!r} (evaluate.source is 'hub': any mteb task name)") from None


def load_scoring_model(spec: str, device: str, batch_size: int, precision: str = "fp32",
                       max_seq_length: int | None = None) -> LoadedModel:
    """`spec` loaded for scoring, reading at most `max_seq_length` tokens (None: the model's own)."""
    model = load_encoder(spec, device, precision)
    if max_seq_length is not None:
        model.max_seq_length = max_seq_length
    return LoadedModel(spec=spec, fingerprint=fingerprint(model), encoder=SentenceEncoder(model, spec, batch_size))


load_model = task(cache_policy=NO_CACHE, name="load_model")(load_scoring_model)


def _test_scores(result: Any) -> dict[str, Any]:
    scores = result.task_results[0].scores
    split = "test" if "test" in scores else next(iter(scores))
    return scores[split][0]


@task(cache_policy=NO_CACHE)
def score_task(model: LoadedModel, task_data: LoadedTask | Any, cache_dir: Path) -> TaskScore:
    """Score one task with mteb's evaluator; embeddings are cached under cache_dir/<fingerprint>/."""
    is_local = isinstance(task_data, LoadedTask)
    mteb_task = to_mteb_task(task_data) if is_local else task_data
    encoder = model.encoder.cached(cache_dir / "embeddings" / model.fingerprint)
    runnable = encoder
    if mteb_task.metadata.type == "Retrieval":  # faiss is imported by retrieval tasks only
        from embedlab.models.search import faiss_search_model

        runnable = faiss_search_model(encoder)
    start = time.perf_counter()
    result = mteb.evaluate(runnable, mteb_task, cache=None, co2_tracker=False, show_progress_bar=False)
    raw = _test_scores(result)
    numbers = {k: float(v) for k, v in raw.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    main_name = mteb_task.metadata.main_score
    return TaskScore(
        name=mteb_task.metadata.name,
        main_score_name=main_name,
        main_score=numbers["main_score"],
        scores=numbers,
        seconds=time.perf_counter() - start,
        file_hashes=task_data.file_hashes if is_local else {"hub": str(mteb_task.metadata.dataset["revision"])},
    )
