"""`retrieval` format: BEIR-style queries, corpus and qrels; one (query, relevant document) example per qrel.

Hard negatives (documents the base model ranks high that are not relevant) are added by `add_hard_negatives`
from a mapping mined by `embedlab.models.mining` (Karpukhin et al. 2020, "Dense Passage Retrieval",
arXiv 2004.04906).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from embedlab.errors import DataError
from embedlab.train_tasks.spec import TrainFormat
from embedlab.train_tasks.task import TrainExample, TrainRetrievalData, TrainTask, TrainTaskSpec, read_role


def read_retrieval_data(spec: TrainTaskSpec, data_root: Path) -> TrainRetrievalData:
    corpus = {row["id"]: f"{row.get('title', '')} {row['text']}".strip() for row in read_role(spec, "corpus", data_root)}
    queries = {row["id"]: row["text"] for row in read_role(spec, "queries", data_root)}
    relevant: dict[str, set[str]] = defaultdict(set)
    pairs = []
    for row in read_role(spec, "qrels", data_root):
        if float(row.get("score", 1) or 1) <= 0:
            continue
        if row["query_id"] not in queries or row["doc_id"] not in corpus:
            raise DataError(spec.files["qrels"].path, f"qrel ({row['query_id']}, {row['doc_id']}) names an "
                                                      "unknown query or document")
        relevant[row["query_id"]].add(row["doc_id"])
        pairs.append((row["query_id"], row["doc_id"]))
    return TrainRetrievalData(queries, corpus, dict(relevant), pairs)


def read(spec: TrainTaskSpec, data_root: Path, seed: int) -> list[TrainExample]:
    data = read_retrieval_data(spec, data_root)
    return [TrainExample((data.queries[q], data.corpus[d]), ids=(q, d)) for q, d in data.pairs]


def add_hard_negatives(task: TrainTask, data: TrainRetrievalData, negatives: dict[str, list[str]]) -> TrainTask:
    """Examples (query, positive, negative_1..k), k = `task.spec.hard_negatives`; queries short of k are dropped."""
    count = task.spec.hard_negatives
    examples = [TrainExample((*example.texts[:2], *(data.corpus[n] for n in negatives.get(example.ids[0], [])[:count])),
                             ids=example.ids)
                for example in task.examples if len(negatives.get(example.ids[0], [])) >= count]
    return task.with_examples(examples)


FORMAT = TrainFormat({"corpus": ("id", "text"), "queries": ("id", "text"), "qrels": ("query_id", "doc_id")}, read)
