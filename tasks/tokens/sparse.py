"""Prefect tasks of `embedlab tokens sparse`: sparse retrieval from aligned tokens against exact dense search of
the same embeddings (paper 5, arXiv 2406.17378, applications; a reconstruction, see
`embedlab.models.tokens.sparse`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from prefect import task
from prefect.cache_policies import NO_CACHE
from scipy import sparse

from embedlab.config import Settings, TokensParams
from embedlab.errors import UserError
from embedlab.eval_tasks.loading import EvalTask, load_task
from embedlab.eval_tasks.registry import EvalTaskRef, resolve_tasks
from embedlab.models.retrieval.dense import DenseRetriever
from embedlab.models.retrieval.metrics import ndcg_at_k, recall_of_judged
from embedlab.models.tokens.decode import check_depth, token_ids, top_tokens
from embedlab.models.tokens.sparse import SparseTokenRetriever, document_matrix, index_bytes, query_matrix
from embedlab.tasks.tokens.common import TokenModel, embed

DEPTH = 100  # documents retrieved per query: nDCG@10 and Recall@100


def document_text(document: dict[str, str]) -> str:
    """A corpus document as mteb's retrieval evaluator gives it to the encoder: title and text joined."""
    title = document.get("title") or ""
    return (title + " " + document["text"]).strip() if title else document["text"].strip()


@dataclass
class Decoded:
    """A retrieval task embedded and decoded once: every sweep point slices these arrays."""

    doc_ids: list[str]
    query_ids: list[str]
    relevance: list[dict[str, float]]
    doc_vectors: np.ndarray  # (N, d)
    query_vectors: np.ndarray  # (Q, d)
    doc_top: tuple[np.ndarray, np.ndarray]  # ids, logits (N, K_max)
    query_top: tuple[np.ndarray, np.ndarray]  # ids, logits (Q, M_max)
    query_logits: np.ndarray  # (Q, V) every logit of each query (logit weights of literal tokens)
    literal: list[list[int]]  # each query's token ids, no special tokens
    vocab_size: int


def retrieval_task_ref(settings: Settings, name: str) -> EvalTaskRef:
    """The task `name` (built-in or of `evaluate.task_files`); UserError with a did-you-mean, or for a task that is
    not a retrieval task."""
    files = [settings.path(p) for p in settings.params.evaluate.task_files]
    ref = resolve_tasks([name], files, settings.data_root)[0]
    if ref.spec.type != "retrieval":
        raise UserError(f"tokens.sparse.task: {name!r} is a {ref.spec.type} task, not a retrieval task")
    return ref


@task(cache_policy=NO_CACHE)
def read_retrieval_task(ref: EvalTaskRef) -> EvalTask:
    """Read and validate the retrieval task of `ref` (`retrieval_task_ref`: corpus, queries, qrels)."""
    return load_task(ref.spec, ref.base_dir)


def check_depths(params: TokensParams, vocab_size: int) -> None:
    """UserError naming the option for a K or M outside 1..V."""
    chosen = params.sparse
    for name, values in (("doc_k", [chosen.doc_k, *chosen.sweep_doc_k]),
                         ("query_m", [chosen.query_m, *chosen.sweep_query_m])):
        for value in values:
            check_depth(f"tokens.sparse.{name}", value, vocab_size)


@task(cache_policy=NO_CACHE)
def decode_retrieval_task(model: TokenModel, loaded: EvalTask, max_k: int, max_m: int, cache_dir: Path) -> Decoded:
    """Embed the corpus and the judged queries (cached), keep each document's top `max_k` and each query's top
    `max_m` aligned tokens."""
    corpus, queries, qrels = loaded.data["corpus"], loaded.data["queries"], loaded.data["qrels"]
    doc_ids = list(corpus)
    query_ids = [q for q in queries if q in qrels]
    doc_vectors = embed(model, [document_text(corpus[d]) for d in doc_ids], cache_dir)
    query_texts = [queries[q] for q in query_ids]
    query_vectors = embed(model, query_texts, cache_dir)
    query_logits = model.decoder(torch.from_numpy(query_vectors)).numpy()
    return Decoded(doc_ids, query_ids, [{d: float(g) for d, g in qrels[q].items()} for q in query_ids],
                   doc_vectors, query_vectors, top_tokens(model.decoder, doc_vectors, max_k),
                   top_tokens(model.decoder, query_vectors, max_m), query_logits,
                   token_ids(model.tokenizer, query_texts, special=False), model.decoder.vocab_size)


def scores_of(ranked: np.ndarray, decoded: Decoded) -> dict[str, float]:
    """nDCG@10 and Recall@100 of ranked corpus positions (Q, ≥100)."""
    ids = [[decoded.doc_ids[i] for i in row] for row in ranked]
    return {"ndcg_at_10": ndcg_at_k(ids, decoded.relevance, 10),
            "recall_at_100": recall_of_judged(ids, decoded.relevance, DEPTH)}


@task(cache_policy=NO_CACHE)
def score_dense(decoded: Decoded) -> dict[str, Any]:
    """Exact dense search (cosine, the shared faiss retriever), as the evaluation suite scores it."""
    retriever = DenseRetriever.build(decoded.doc_vectors, normalize=True)
    ranked, _ = retriever.search(decoded.query_vectors, DEPTH)
    return {**scores_of(ranked, decoded), "index_bytes": int(decoded.doc_vectors.size * 4),
            "nonzeros_per_doc": decoded.doc_vectors.shape[1], "nonzeros_per_query": decoded.query_vectors.shape[1]}


def sparse_inputs(decoded: Decoded, k: int, m: int, literal: bool,
                  weights: str) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """(documents (N, V), queries (Q, V)) CSR for K = k, M = m."""
    doc_ids, doc_logits = decoded.doc_top
    query_ids, query_logits = decoded.query_top
    documents = document_matrix(doc_ids[:, :k], doc_logits[:, :k], decoded.vocab_size)
    queries = query_matrix(query_ids[:, :m], query_logits[:, :m], decoded.literal if literal else None,
                           decoded.vocab_size, weights, decoded.query_logits)
    return documents, queries


@task(cache_policy=NO_CACHE)
def score_sparse(decoded: Decoded, k: int, m: int, literal: bool, weights: str) -> dict[str, Any]:
    """One sweep point: nDCG@10, Recall@100, mean non-zeros per document and query, index bytes."""
    documents, queries = sparse_inputs(decoded, k, m, literal, weights)
    retriever = SparseTokenRetriever()
    retriever.index(range(len(decoded.doc_ids)), documents)
    ranked, _ = retriever.search(queries, DEPTH)
    return {"doc_k": k, "query_m": m, **scores_of(ranked, decoded), "index_bytes": index_bytes(retriever.postings),
            "nonzeros_per_doc": float(documents.getnnz(axis=1).mean()),
            "nonzeros_per_query": float(queries.getnnz(axis=1).mean())}


def _median_seconds(searches: dict[str, Any], count: int) -> dict[str, float]:
    """Median seconds of each `searches[name](i)` over queries i < count, the searches alternating query by
    query (so load from other processes hits them alike)."""
    times: dict[str, list[float]] = {name: [] for name in searches}
    for i in range(count):
        for name, search in searches.items():
            start = time.perf_counter()
            search(i)
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(values)) for name, values in times.items()}


@task(cache_policy=NO_CACHE)
def measure_query_latency(model: TokenModel, decoded: Decoded, k: int, m: int, literal: bool, weights: str,
                          count: int | None) -> dict[str, float]:
    """Median per-query milliseconds, one query at a time (top 100), alternating in one run: exact dense search
    (faiss flat index), sparse search through the inverted index, and the query's decoding g(h_q) + top-M that
    sparse search needs first. The query's embedding is common to both and not timed."""
    count = min(count or len(decoded.query_ids), len(decoded.query_ids))
    dense = DenseRetriever.build(decoded.doc_vectors, normalize=True)
    documents, queries = sparse_inputs(decoded, k, m, literal, weights)
    retriever = SparseTokenRetriever()
    retriever.index(range(len(decoded.doc_ids)), documents)
    vectors = decoded.query_vectors
    seconds = _median_seconds({"dense": lambda i: dense.search(vectors[i:i + 1], DEPTH),
                               "sparse": lambda i: retriever.search(queries[i], DEPTH),
                               "decode": lambda i: top_tokens(model.decoder, vectors[i:i + 1], m)}, count)
    dense_s, sparse_s, decode_s = seconds["dense"], seconds["sparse"], seconds["decode"]
    return {"queries_timed": count, "dense_ms": dense_s * 1e3, "sparse_ms": sparse_s * 1e3,
            "decode_ms": decode_s * 1e3, "sparse_over_dense": sparse_s / dense_s,
            "sparse_with_decoding_over_dense": (sparse_s + decode_s) / dense_s}
