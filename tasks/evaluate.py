"""Prefect tasks of the evaluation flow: read the evaluation tasks, and score each one with mteb, its score cached.

A score is cached by Prefect (`embedlab.tasks.score_cache`): a repeated evaluation of unchanged model files, data,
protocol and code reads its scores back without loading the model. So the model is a `ScoringModel`, loaded on the
first score that is not cached, and torch, sentence-transformers and mteb are imported by the code that encodes or
scores only.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, ConfigDict

from embedlab.errors import UserError
from embedlab.eval_tasks.loading import EvalTask, load_tasks
from embedlab.tasks.score_cache import SCORE_CACHE, score_storage

if TYPE_CHECKING:
    from embedlab.models.mteb_encoder import SentenceEncoder


class EvalTaskScore(BaseModel):
    """One evaluation task's outcome: mteb's scores of the test split, its main score and the seconds spent.

    `model_fingerprint`: `embedlab.models.encoder.fingerprint` of the model that scored it (None where the scores
    come from elsewhere, e.g. a cross-modal evaluation). `cached`: read back from the score cache in this run
    (`seconds` are then those of the run that computed it). Stored as JSON in the score cache (NaN metrics kept).
    """

    model_config = ConfigDict(ser_json_inf_nan="constants")

    name: str
    main_score_name: str
    main_score: float
    scores: dict[str, float]
    seconds: float
    file_hashes: dict[str, str]
    model_fingerprint: str | None = None
    cached: bool = False


@dataclass
class LoadedModel:
    """A model loaded for scoring: its spec, `fingerprint` and mteb encoder. Its identity is its fingerprint."""

    spec: str
    fingerprint: str
    encoder: SentenceEncoder

    def identity(self) -> str:
        return self.fingerprint

    def load(self) -> LoadedModel:
        return self


class ScoringModel:
    """A model to score with, named by its files and loaded on first use (once for all tasks of a flow run).

    `identity()`: sha256 over the model folder's files (`model_files_sha256`), the precision the weights are loaded
    in and `max_seq_length`; None for a Hub id not in the local Hugging Face cache (its scores are not cached).
    Device and batch size are left out: they do not change the vectors (beyond float rounding), as for the
    embedding cache. `load()`: the `LoadedModel`, loaded the first time only.
    """

    def __init__(self, spec: str, device: str, batch_size: int, precision: str = "fp32",
                 max_seq_length: int | None = None):
        self.spec, self.device, self.batch_size = spec, device, batch_size
        self.precision, self.max_seq_length = precision, max_seq_length
        self._identity: str | None = None
        self._loaded: LoadedModel | None = None

    def identity(self) -> str | None:
        if self._identity is None:
            from embedlab.models.encoder import model_files_sha256, model_folder, precision_name

            folder = model_folder(self.spec)
            if folder is None:
                return None
            named = {"files": model_files_sha256(folder), "precision": precision_name(self.precision, self.device),
                     "max_seq_length": self.max_seq_length}
            self._identity = hashlib.sha256(json.dumps(named, sort_keys=True).encode()).hexdigest()
        return self._identity

    def load(self) -> LoadedModel:
        if self._loaded is None:
            self._loaded = load_scoring_model(self.spec, self.device, self.batch_size, self.precision,
                                              self.max_seq_length)
        return self._loaded


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
    import mteb

    try:
        return mteb.get_task(name)
    except KeyError:
        raise UserError(f"unknown mteb task {name!r} (evaluate.source is 'hub': any mteb task name)") from None


def load_scoring_model(spec: str, device: str, batch_size: int, precision: str = "fp32",
                       max_seq_length: int | None = None, pooling: str | None = None) -> LoadedModel:
    """`spec` loaded for scoring, reading at most `max_seq_length` tokens (None: the model's own), pooled by
    `pooling` (None: the model's own; see `with_pooling`)."""
    from embedlab.models.encoder import fingerprint, load_encoder, with_pooling
    from embedlab.models.mteb_encoder import SentenceEncoder

    model = with_pooling(load_encoder(spec, device, precision), pooling)
    if max_seq_length is not None:
        model.max_seq_length = max_seq_length
    return LoadedModel(spec=spec, fingerprint=fingerprint(model), encoder=SentenceEncoder(model, spec, batch_size))


load_model = task(cache_policy=NO_CACHE, name="load_model")(load_scoring_model)


def _test_scores(result: Any) -> dict[str, Any]:
    scores = result.task_results[0].scores
    split = "test" if "test" in scores else next(iter(scores))
    return scores[split][0]


@task(cache_policy=SCORE_CACHE, persist_result=True, result_serializer="json")
def score_eval_task(model: ScoringModel | LoadedModel, task_data: EvalTask | Any, cache_dir: Path) -> EvalTaskScore:
    """Score one task with mteb's evaluator; embeddings are cached under cache_dir/embeddings/<fingerprint>/.
    Run through `score_eval_tasks`, which keeps its scores under cache_dir (see `embedlab.tasks.score_cache`)."""
    import mteb

    from embedlab.eval_tasks.mteb_tasks import to_mteb_task

    loaded = model.load()
    is_local = isinstance(task_data, EvalTask)
    mteb_task = to_mteb_task(task_data) if is_local else task_data
    encoder = loaded.encoder.cached(cache_dir / "embeddings" / loaded.fingerprint)
    runnable = encoder
    if mteb_task.metadata.type == "Retrieval":  # faiss is imported by retrieval tasks only
        from embedlab.models.search import faiss_search_model

        runnable = faiss_search_model(encoder)
    start = time.perf_counter()
    result = mteb.evaluate(runnable, mteb_task, cache=None, co2_tracker=False, show_progress_bar=False)
    raw = _test_scores(result)
    numbers = {k: float(v) for k, v in raw.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return EvalTaskScore(
        name=mteb_task.metadata.name,
        main_score_name=mteb_task.metadata.main_score,
        main_score=numbers["main_score"],
        scores=numbers,
        seconds=time.perf_counter() - start,
        file_hashes=task_data.file_hashes if is_local else {"hub": str(mteb_task.metadata.dataset["revision"])},
        model_fingerprint=loaded.fingerprint,
    )


def score_eval_tasks(model: ScoringModel | LoadedModel, tasks: list[Any], cache_dir: Path) -> list[EvalTaskScore]:
    """`score_eval_task` of each task, its result read from or stored in cache_dir/prefect-results/; a score read
    back from there says `cached`. The model is loaded by the first task that is not cached (none if all are)."""
    scorer = score_eval_task.with_options(result_storage=score_storage(cache_dir))
    scores = []
    for item in tasks:
        state = scorer(model, item, cache_dir, return_state=True)
        scores.append(state.result().model_copy(update={"cached": state.name == "Cached"}))
    return scores
