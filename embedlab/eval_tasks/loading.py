"""Reading an evaluation task's files into validated, in-memory data (plain Python; no mteb here)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedlab.errors import DataError
from embedlab.eval_tasks.readers import read_rows
from embedlab.eval_tasks.registry import resolve_tasks
from embedlab.eval_tasks.spec import OPTIONAL_COLUMNS, ROLES, EvalTaskSpec
from embedlab.hashing import file_sha256


@dataclass
class EvalTask:
    """A task spec with its data read and checked.

    `data` by type:
      sts / pair_classification: {"test": {"sentence1": [...], "sentence2": [...], "score"|"label": [...]}}
      classification / clustering: {split: {"text": [...], "label": [...]}}
      retrieval: {"corpus": {id: {"title", "text"}}, "queries": {id: text}, "qrels": {qid: {doc_id: int}}}
    `file_hashes`: role -> the file's sha256 (recorded with every run).
    """

    spec: EvalTaskSpec
    data: dict[str, Any]
    file_hashes: dict[str, str] = field(default_factory=dict)


def _number(path: Path, line: int, column: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise DataError(path, f"column {column!r} must be a number, got {text!r}", line) from None


def task_paths(spec: EvalTaskSpec, base_dir: Path) -> dict[str, Path]:
    """{role: path} of the files `spec` reads; relative paths are taken from `base_dir`."""
    return {role: _resolve(base_dir, file.path) for role, file in spec.files.items()}


def load_task(spec: EvalTaskSpec, base_dir: Path) -> EvalTask:
    """Read and validate every file of `spec`; relative paths are taken from `base_dir`."""
    paths = task_paths(spec, base_dir)

    def rows(role: str):
        return read_rows(paths[role], role, spec.files[role], ROLES[spec.type][role], OPTIONAL_COLUMNS.get(role, ()))

    if spec.type == "retrieval":
        data = _load_retrieval(rows, paths)
    else:
        data = {role: _load_columns(spec, role, paths[role], rows(role)) for role in spec.files}
    if spec.sample:
        data = sample_data(spec, data)
    hashes = {role: file_sha256(path) for role, path in paths.items()}
    return EvalTask(spec=spec, data=data, file_hashes=hashes)


def _kept(size: int, count: int, seed: int) -> list[int]:
    """Indices of a seeded random sample of `count` of `size` items, in their original order (all when fewer).

    Sampling what was already sampled keeps everything: reading a prepared, sampled task back is a no-op."""
    if count >= size:
        return list(range(size))
    return sorted(random.Random(seed).sample(range(size), count))


def sample_data(spec: EvalTaskSpec, data: dict[str, Any]) -> dict[str, Any]:
    """The task's data reduced as `spec.sample` says (see `EvalTaskSpec.sample`); the input is not modified.

    Retrieval: queries are sampled first, then the corpus keeps every document relevant to a kept query
    plus a seeded sample of the other documents; qrels keep the kept queries. Other types: each sampled
    role keeps the same rows of every column.
    """
    seed, sizes = spec.sample_seed, spec.sample
    if spec.type != "retrieval":
        out = dict(data)
        for role, count in sizes.items():
            columns = data[role]
            keep = _kept(len(next(iter(columns.values()))), count, seed)
            out[role] = {name: [values[i] for i in keep] for name, values in columns.items()}
        return out
    query_ids = list(data["queries"])
    if "queries" in sizes:
        query_ids = [query_ids[i] for i in _kept(len(query_ids), sizes["queries"], seed)]
    qrels = {q: data["qrels"][q] for q in query_ids}
    relevant = {doc for docs in qrels.values() for doc in docs}
    corpus = data["corpus"]
    if "corpus" in sizes:
        others = [doc for doc in corpus if doc not in relevant]
        chosen = relevant | {others[i] for i in _kept(len(others), sizes["corpus"], seed)}
        corpus = {doc: text for doc, text in corpus.items() if doc in chosen}
    return {"corpus": corpus, "queries": {q: data["queries"][q] for q in query_ids}, "qrels": qrels}


def load_tasks(names: list[str], task_files: list[Path], data_root: Path) -> list[EvalTask]:
    """Resolve the named tasks and task files (see `resolve_tasks`), then read and validate each one."""
    return [load_task(ref.spec, ref.base_dir) for ref in resolve_tasks(names, task_files, data_root)]


def _resolve(base_dir: Path, path: str) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else base_dir / candidate


def _load_columns(spec: EvalTaskSpec, role: str, path: Path, rows) -> dict[str, list]:
    columns = ROLES[spec.type][role]
    out: dict[str, list] = {c: [] for c in columns}
    low, high = spec.score_range
    for line, row in rows:
        for column in columns:
            value: Any = row[column]
            if column == "score":
                value = _number(path, line, column, value)
                if not low <= value <= high:
                    raise DataError(path, f"score {value} is outside score_range [{low}, {high}]", line)
            elif column == "label" and spec.type == "pair_classification":
                number = _number(path, line, column, value)
                if number not in (0.0, 1.0):
                    raise DataError(path, f"pair label must be 0 or 1, got {value!r}", line)
                value = int(number)
            elif not value.strip():
                raise DataError(path, f"column {column!r} is empty", line)
            out[column].append(value)
    return out


def _load_retrieval(rows, paths: dict[str, Path]) -> dict[str, Any]:
    corpus: dict[str, dict[str, str]] = {}
    for line, row in rows("corpus"):
        if row["id"] in corpus:
            raise DataError(paths["corpus"], f"duplicate document id {row['id']!r}", line)
        corpus[row["id"]] = {"title": row.get("title", ""), "text": row["text"]}
    queries: dict[str, str] = {}
    for line, row in rows("queries"):
        queries[row["id"]] = row["text"]
    qrels: dict[str, dict[str, int]] = {}
    for line, row in rows("qrels"):
        qid, doc_id = row["query_id"], row["doc_id"]
        if doc_id not in corpus:
            raise DataError(paths["qrels"], f"corpus id {doc_id!r} is not in the corpus ({paths['corpus']})", line)
        if qid not in queries:
            raise DataError(paths["qrels"], f"query id {qid!r} is not in the queries ({paths['queries']})", line)
        score = _number(paths["qrels"], line, "score", row.get("score", "1"))
        qrels.setdefault(qid, {})[doc_id] = int(score)
    return {"corpus": corpus, "queries": {q: queries[q] for q in qrels}, "qrels": qrels}
