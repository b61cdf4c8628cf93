"""Rerank latency of the layer-wise cross-encoder at full depth vs EasyRAG's per-query early exit, side by side.

    python benchmarks/rerank_early_exit.py [--queries 30] [--depth 100] [--theta 0.4] [--check-layer 3]

SciFact test queries (a seeded sample), their BM25 route-1 top `depth`, reranked by rag.rerank.model with every
layer and with the max-similarity exit; prints seconds, nDCG@10 of each, and the ratios (goal: >= 1.5x faster at
>= 97 % of full-depth nDCG@10). Also times bm25s against rank_bm25 on the same queries (goal >= 10x)."""

from __future__ import annotations

import argparse
import time

from embedlab.config import load_settings
from embedlab.models.rag.early_exit import MaxRule
from embedlab.models.rag.routes import route1_text
from embedlab.models.retrieval.metrics import ndcg_at_k
from embedlab.tasks.rag.evaluate import documents_of, load_beir, rerank_queries, run_bm25, sample_queries
from embedlab.tasks.rag.run import build, open_reranker, tokenizer_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--theta", type=float, default=0.4)
    parser.add_argument("--check-layer", type=int, default=3)
    args = parser.parse_args()
    settings = load_settings()
    ev = settings.params.rag.evaluate
    data = load_beir(settings.data_root / ev.corpus, settings.data_root / ev.queries, settings.data_root / ev.qrels)
    index = build(settings.params.rag, tokenizer_of(settings), settings.data_root / ev.corpus)
    qids = sample_queries(data, args.queries, ev.seed)
    queries, relevance = [data["queries"][q] for q in qids], [data["qrels"][q] for q in qids]
    run = run_bm25.fn(index, queries, args.depth)["chunks"]
    reranker = open_reranker(settings)
    full = rerank_queries(reranker, index, queries, run, args.depth, {"batch_size": 32})
    early = rerank_queries(reranker, index, queries, run, args.depth,
                           {"batch_size": 32, "check_layer": args.check_layer, "rule": MaxRule(theta=args.theta)})
    ndcg_full = ndcg_at_k(documents_of(index, full["chunks"]), relevance, 10)
    ndcg_early = ndcg_at_k(documents_of(index, early["chunks"]), relevance, 10)
    exited = sum(layer == args.check_layer for layer in early["exit_layers"])
    print(f"full depth: {full['seconds']:.1f} s, nDCG@10 {ndcg_full:.4f}")
    print(f"early exit (max θ={args.theta}, check layer {args.check_layer}): {early['seconds']:.1f} s, "
          f"nDCG@10 {ndcg_early:.4f}, {exited}/{len(qids)} queries exited")
    print(f"speed-up {full['seconds'] / early['seconds']:.2f}x at {ndcg_early / ndcg_full:.1%} of full-depth nDCG@10")
    _bm25_engines(index, queries)


def _bm25_engines(index, queries) -> None:
    from rank_bm25 import BM25Okapi

    tokenizer = index.route1.tokenizer
    reference = BM25Okapi(tokenizer([route1_text(c) for c in index.chunks]), k1=1.5, b=0.75, epsilon=0.0)
    start = time.perf_counter()
    index.route1.search(queries, 100)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    for terms in tokenizer(queries):
        reference.get_scores(terms)
    theirs = time.perf_counter() - start
    print(f"BM25 on {len(queries)} queries: bm25s {len(queries) / ours:.0f} q/s, rank_bm25 {len(queries) / theirs:.1f} "
          f"q/s: {theirs / ours:.0f}x")


if __name__ == "__main__":
    main()
