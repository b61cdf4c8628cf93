"""The score cache of `score_eval_task`: Prefect's own task caching, keyed by the content of what decides a score.

The key (`ScoreKey`, sha256 of JSON) is computed before the task runs, without loading the model:
- the model's identity (`ScoringModel.identity`: its files' sha256, precision, max_seq_length; a loaded model's
  fingerprint);
- the evaluation task: its spec (type, protocol parameters, columns, sample, main score, ...) and the sha256 of each
  data file (`EvalTask.file_hashes`); an mteb Hub task: its name and dataset revision;
- the versions of the libraries that compute the score (mteb, sentence-transformers, transformers, torch), read
  from the installed packages' metadata;
- the code: Prefect's `TASK_SOURCE` (the task function's source) and the sha256 of the modules the scoring runs
  through (`SCORING_CODE`).
A model without an identity (a Hub id not downloaded yet) gives no key: the task runs and nothing is stored.

Results are stored as JSON (`result_serializer="json"`: the `EvalTaskScore` fields, no pickled code) in
`<cache_dir>/prefect-results/<key>` by Prefect's local file storage (a `result_storage` path: Prefect accepts a
block there only when saved on the server). Prefect writes a record in place, but takes one it cannot parse (cut
short by a killed run) as absent: the task is scored again and the record rewritten, so a torn record is never used.
Removing the folder clears the cache.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import metadata, util
from pathlib import Path
from typing import Any

from prefect.cache_policies import TASK_SOURCE, CachePolicy

# Libraries whose version can change a score.
SCORING_LIBRARIES = ("mteb", "sentence-transformers", "transformers", "torch")
# Modules a score is computed through, besides the task function itself (Prefect's TASK_SOURCE).
SCORING_CODE = ("embedlab.eval_tasks.mteb_tasks", "embedlab.models.mteb_encoder", "embedlab.models.sorted_encode",
                "embedlab.models.search", "embedlab.models.encoder", "embedlab.models.embedding_cache")


def _sha256_json(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def eval_task_identity(task_data: Any) -> dict[str, Any]:
    """What decides an evaluation task's data and protocol: an `EvalTask`'s spec and file hashes, or an mteb task's
    name and dataset revision."""
    spec = getattr(task_data, "spec", None)
    if spec is not None:
        return {"spec": spec.model_dump(mode="json"), "files": task_data.file_hashes}
    return {"mteb_task": task_data.metadata.name, "revision": task_data.metadata.dataset["revision"]}


def scoring_code_sha256() -> str:
    """sha256 over the source files of `SCORING_CODE` (read, not imported)."""
    digest = hashlib.sha256()
    for name in SCORING_CODE:
        digest.update(Path(util.find_spec(name).origin).read_bytes())
    return digest.hexdigest()


@dataclass
class ScoreKey(CachePolicy):
    """The cache policy of `score_eval_task(model, task_data, cache_dir)` (see the module's docstring)."""

    def compute_key(self, task_ctx: Any, inputs: dict[str, Any], flow_parameters: dict[str, Any],
                    **kwargs: Any) -> str | None:
        model_identity = inputs["model"].identity()
        if model_identity is None:
            return None
        return _sha256_json({
            "model": model_identity,
            "task": eval_task_identity(inputs["task_data"]),
            "libraries": {name: metadata.version(name) for name in SCORING_LIBRARIES},
            "code": scoring_code_sha256(),
            "task_source": TASK_SOURCE.compute_key(task_ctx, inputs, flow_parameters, **kwargs),
        })


SCORE_CACHE = ScoreKey()


def score_storage(cache_dir: Path) -> Path:
    """Where scores are stored: `<cache_dir>/prefect-results/` (absolute)."""
    return Path(cache_dir).absolute() / "prefect-results"
