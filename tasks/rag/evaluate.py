"""Units of work of `embedlab rag evaluate` and `train-reranker` on BEIR-format data: read corpus/queries/qrels
(the evaluation-task reader, one-line errors), route-1 BM25 runs, dense-route and fused runs, metrics through the
shared retrieval module, reranking a run at full depth, at each exit layer and with early exit, and training the layer-wise reranker on
BM25-mined hard negatives (train qrels only)."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE

from embedlab.atomic import atomic_dir
from embedlab.config.rag import TrainRerankerParams
from embedlab.eval_tasks.loading import load_task
from embedlab.eval_tasks.spec import EvalTaskSpec, FileSpec
from embedlab.models.model_source import model_source
from embedlab.models.rag.exit_rules import EXIT_RULES
from embedlab.models.rag.layerwise import LayerwiseCrossEncoder
from embedlab.models.rag.routes import RagIndex, RouteSettings, as_hits, reranker_text
from embedlab.models.rag.train_reranker import Group, train
from embedlab.models.retrieval.metrics import mrr, ndcg_at_k, recall_of_judged
from embedlab.tasks.logs import run_logger


def load_beir(corpus: Path, queries: Path, qrels: Path) -> dict[str, Any]:
    """{"corpus": {id: {title, text}}, "queries": {id: text} (judged ones), "qrels": {qid: {doc: grade}}}."""
    spec = EvalTaskSpec(name="rag", type="retrieval", files={"corpus": FileSpec(path=str(corpus)),
                                                             "queries": FileSpec(path=str(queries)),
                                                             "qrels": FileSpec(path=str(qrels))})
    return load_task(spec, Path("/")).data


def sample_queries(data: dict[str, Any], sample: int | None, seed: int) -> list[str]:
    ids = sorted(data["qrels"])
    return ids if sample is None or sample >= len(ids) else sorted(random.Random(seed).sample(ids, sample))


def metrics(ranked: list[list[str]], relevance: list[dict[str, int]]) -> dict[str, float]:
    """nDCG@10, Recall@10/100 (of judged relevant documents) and MRR@10 (first relevant document)."""
    firsts = [next((i for i, d in enumerate(ids, 1) if grades.get(d, 0) > 0), len(ids) + 1)
              for ids, grades in zip(ranked, relevance, strict=True)]
    return {"ndcg_at_10": ndcg_at_k(ranked, relevance, 10), "recall_at_10": recall_of_judged(ranked, relevance, 10),
            "recall_at_100": recall_of_judged(ranked, relevance, 100), "mrr_at_10": mrr(firsts, 10)}


@task(cache_policy=NO_CACHE)
def run_bm25(index: RagIndex, queries: list[str], depth: int) -> dict[str, Any]:
    """Route 1 for every query: {"chunks": [[chunk id]] (depth, documents collapsed), "seconds"}."""
    start = time.perf_counter()
    ids, scores = index.route1.search(queries, depth * 2)
    runs = []
    for row, row_scores in zip(ids, scores, strict=True):
        seen, kept = set(), []
        for chunk in row.tolist():  # the best chunk of each document
            doc = index.chunks[chunk].doc_id
            if doc not in seen and len(kept) < depth:
                seen.add(doc)
                kept.append(chunk)
        runs.append(kept)
    return {"chunks": runs, "seconds": time.perf_counter() - start}


@task(cache_policy=NO_CACHE)
def run_dense(index: RagIndex, queries: list[str], depth: int) -> dict[str, Any]:
    """The dense route alone for every query: {"documents": [[doc id]] (depth, chunks collapsed), "seconds"}."""
    start = time.perf_counter()
    ids, scores = index.dense.search(queries, depth * 2)
    documents = [index.ranked_documents(as_hits(row, row_scores))[:depth]
                 for row, row_scores in zip(ids, scores, strict=True)]
    return {"documents": documents, "seconds": time.perf_counter() - start}


@task(cache_policy=NO_CACHE)
def run_fused(index: RagIndex, queries: list[str], settings: RouteSettings) -> dict[str, Any]:
    """Every route of `settings` fused, as `rag ask` retrieves: {"documents": [[doc id]], "seconds"}."""
    start = time.perf_counter()
    documents = [index.ranked_documents(index.retrieve(query, settings)) for query in queries]
    return {"documents": documents, "seconds": time.perf_counter() - start}


def documents_of(index: RagIndex, runs: list[list[int]]) -> list[list[str]]:
    return [[index.chunks[c].doc_id for c in run] for run in runs]


def rerank_queries(reranker: Any, index: RagIndex, queries: list[str], runs: list[list[int]], depth: int,
               options: dict[str, Any]) -> dict[str, Any]:
    """Each query's first `depth` candidates reordered by the reranker (the rest keep BM25's order behind them).

    Returns {"chunks", "seconds" (rerank time), "exit_layers": [layer per query]}."""
    log = run_logger()
    reordered, layers, start = [], [], time.perf_counter()
    for n, (query, run) in enumerate(zip(queries, runs, strict=True), 1):
        head = run[:depth]
        scored = reranker.score(query, [reranker_text(index.chunks[c]) for c in head], **options)
        order = sorted(range(len(head)), key=lambda i: -scored.scores[i])
        reordered.append([head[i] for i in order] + run[depth:])
        layers.append(scored.layer)
        if n % 50 == 0:
            log.info("reranked %d / %d queries (%.0f s)", n, len(queries), time.perf_counter() - start)
    return {"chunks": reordered, "seconds": time.perf_counter() - start, "exit_layers": layers}


rerank_run = task(cache_policy=NO_CACHE, name="rerank_run")(rerank_queries)


@task(cache_policy=NO_CACHE)
def measure_early_exit(reranker: Any, index: RagIndex, queries: list[str], runs: list[list[int]],
                       relevance: list[dict[str, int]], depth: int, batch_size: int, exit_layers: list[int],
                       check_layer: int, thetas: list[float]) -> list[dict[str, Any]]:
    """The paper's Table 7 on BEIR data: one row per fixed exit layer and per θ of the max and entropy rules:
    rerank seconds, nDCG@10, its ratio to full depth, the share of queries that exited, speed-up vs full."""
    last = reranker.model.num_layers
    settings = [(f"layer {layer}", {"layer": layer}) for layer in sorted(set(exit_layers) | {last})]
    for rule in ("max", "entropy"):
        for theta in thetas:
            options = {"theta": theta} | ({"exit_when": "below"} if rule == "entropy" else {})
            settings.append((f"{rule} θ={theta:g} @{check_layer}",
                             {"check_layer": check_layer, "rule": EXIT_RULES.params(rule, options)}))
    rows = []
    for name, options in settings:
        found = rerank_queries(reranker, index, queries, runs, depth, {"batch_size": batch_size, **options})
        exited = np.mean([layer < last for layer in found["exit_layers"]])
        rows.append({"method": name, "seconds": found["seconds"],
                     "ndcg_at_10": ndcg_at_k(documents_of(index, found["chunks"]), relevance, 10),
                     "exited": float(exited)})
    full = next(r for r in rows if r["method"] == f"layer {last}")
    for row in rows:
        row["ndcg_ratio"] = row["ndcg_at_10"] / full["ndcg_at_10"]
        row["speedup"] = full["seconds"] / row["seconds"]
    return rows


def mine_groups(index: RagIndex, data: dict[str, Any], negatives: int, depth: int, seed: int) -> list[Group]:
    """One group per (query, relevant document): the document and `negatives` drawn (seeded) from the query's
    BM25 top `depth` documents that are not relevant to it."""
    chunk_of = {c.doc_id: c for c in reversed(index.chunks)}  # a document's first chunk
    draw = random.Random(seed)
    qids = sorted(data["qrels"])
    ids, _ = index.route1.search([data["queries"][q] for q in qids], depth * 2)
    groups = []
    for qid, row in zip(qids, ids, strict=True):
        relevant = {d for d, g in data["qrels"][qid].items() if g > 0}
        pool = list(dict.fromkeys(index.chunks[c].doc_id for c in row.tolist()))
        pool = [d for d in pool if d not in relevant][:depth]
        if len(pool) < negatives:
            continue
        for doc in sorted(relevant):
            chosen = draw.sample(pool, negatives)
            groups.append(Group(data["queries"][qid], reranker_text(chunk_of[doc]),
                                tuple(reranker_text(chunk_of[d]) for d in chosen)))
    return groups


@task(cache_policy=NO_CACHE)
def train_layerwise_reranker(options: TrainRerankerParams, index: RagIndex, data: dict[str, Any],
                             out: Path) -> dict[str, Any]:
    """Mine groups (`rag.train_reranker` options), train MiniLM's weights with a head per layer, save to `out` as
    one unit."""
    log = run_logger()
    groups = mine_groups(index, data, options.negatives, options.mine_depth, options.seed)
    model = LayerwiseCrossEncoder.from_encoder(model_source(options.base), options.max_length)
    start = time.perf_counter()

    def progress(step: int, total: int, loss: float) -> None:
        if step % 10 == 0 or step == total:
            log.info("step %d / %d: loss %.4f (%.0f s)", step, total, loss, time.perf_counter() - start)

    losses = train(model, groups, options.epochs, options.groups_per_step, options.lr, options.seed,
                   options.max_steps, progress, options.head_lr)
    with atomic_dir(out) as tmp:
        model.save(tmp)
    return {"groups": len(groups), "steps": len(losses), "first_loss": losses[0], "last_loss": losses[-1],
            "seconds": time.perf_counter() - start, "model": str(out)}
