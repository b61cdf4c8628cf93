"""Query latency of sparse retrieval from aligned tokens against exact dense search, side by side in one run.

    python benchmarks/sparse_latency.py [--model minilm] [--task SciFact] [-K 256] [-M 64]

Embeds the task's corpus and judged queries once (the embedding cache makes a second run cheap), then times each
query on its own, top 100, alternating the searches query by query: dense (faiss flat inner product
over the normalised embeddings) and sparse (the query's literal ∪ top-M aligned tokens through the inverted index of
the documents' top-K tokens). Prints the median milliseconds and the sparse/dense ratio, with and without the
query's decoding (g(h_q) and its top M) that sparse search needs first.
"""

from __future__ import annotations

import argparse

from embedlab.config import load_settings
from embedlab.tasks.tokens.common import load_token_model
from embedlab.tasks.tokens.sparse import (decode_retrieval_task, measure_query_latency, read_retrieval_task,
                                          retrieval_task_ref)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--task", default="SciFact")
    parser.add_argument("-K", "--doc-k", type=int, default=256)
    parser.add_argument("-M", "--query-m", type=int, default=64)
    args = parser.parse_args()
    settings = load_settings()
    chosen = settings.params.tokens
    model = load_token_model.fn(args.model, chosen.head, chosen.head_options, chosen.device, chosen.batch_size)
    loaded = read_retrieval_task.fn(retrieval_task_ref(settings, args.task))
    decoded = decode_retrieval_task.fn(model, loaded, args.doc_k, args.query_m, settings.cache_dir)
    result = measure_query_latency.fn(model, decoded, args.doc_k, args.query_m, chosen.sparse.literal,
                              chosen.sparse.query_weights, None)
    print(f"{args.task}, {args.model}, K={args.doc_k}, M={args.query_m}, {result['queries_timed']} queries, median ms:")
    print(f"dense {result['dense_ms']:.3f}  sparse {result['sparse_ms']:.3f}  query decoding {result['decode_ms']:.3f}")
    print(f"sparse/dense {result['sparse_over_dense']:.2f}  "
          f"(sparse + decoding)/dense {result['sparse_with_decoding_over_dense']:.2f}")


if __name__ == "__main__":
    main()
