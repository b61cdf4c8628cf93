"""The normalised JSON-lines layout of a validated task (what `embedlab prepare` writes), as plain data.

One JSON object per row, keyed as below; reading the layout back through `load_task` gives the same
in-memory task as the original files:

  sts                  test.jsonl            {sentence1, sentence2, score}
  pair_classification  test.jsonl            {sentence1, sentence2, label}   label 0 or 1
  classification       train/test.jsonl      {text, label}
  clustering           test.jsonl            {text, label}
  retrieval            corpus.jsonl          {_id, title, text}
                       queries.jsonl         {_id, text}                     only queries with qrels
                       qrels.jsonl           {query-id, corpus-id, score}
"""

from __future__ import annotations

from typing import Any

from embedlab.eval_tasks.loading import EvalTask
from embedlab.eval_tasks.spec import ROLES, EvalTaskSpec, FileSpec

# JSON key of each role column in the retrieval files (BEIR's names); other types use the column names.
RETRIEVAL_KEYS: dict[str, dict[str, str]] = {
    "corpus": {"id": "_id", "title": "title", "text": "text"},
    "queries": {"id": "_id", "text": "text"},
    "qrels": {"query_id": "query-id", "doc_id": "corpus-id", "score": "score"},
}


def normalised_rows(task: EvalTask) -> dict[str, list[dict[str, Any]]]:
    """Role -> the rows of its normalised file, in the order `load_task` read them."""
    data = task.data
    if task.spec.type == "retrieval":
        return {
            "corpus": [{"_id": doc_id, "title": doc["title"], "text": doc["text"]}
                       for doc_id, doc in data["corpus"].items()],
            "queries": [{"_id": qid, "text": text} for qid, text in data["queries"].items()],
            "qrels": [{"query-id": qid, "corpus-id": doc_id, "score": score}
                      for qid, docs in data["qrels"].items() for doc_id, score in docs.items()],
        }
    out: dict[str, list[dict[str, Any]]] = {}
    for role, columns in ROLES[task.spec.type].items():
        values = data[role]
        out[role] = [dict(zip(columns, row, strict=True)) for row in zip(*(values[c] for c in columns), strict=True)]
    return out


def normalised_file_spec(task_type: str, role: str, path: str) -> FileSpec:
    """How the normalised file of `role` is read back: JSON lines, with BEIR's keys for retrieval."""
    columns = dict(RETRIEVAL_KEYS[role]) if task_type == "retrieval" else {}
    return FileSpec(path=path, format="jsonl", columns=columns)


def normalised_spec(spec: EvalTaskSpec, paths: dict[str, str]) -> EvalTaskSpec:
    """`spec` (name, type, mteb_task, main score...) pointing at the normalised files at `paths` (role -> path)."""
    files = {role: normalised_file_spec(spec.type, role, paths[role]).model_dump() for role in spec.files}
    # The normalised files hold the sampled rows already (`sample` is applied when the task is read).
    return EvalTaskSpec.model_validate({**spec.model_dump(exclude={"sample", "sample_seed"}), "files": files})
