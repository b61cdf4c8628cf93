"""Hard-negative mining: documents a model ranks high for a query that are not marked relevant.

Reference: Karpukhin et al. 2020, "Dense Passage Retrieval for Open-Domain Question Answering" (arXiv 2004.04906);
skipping the very top ranks guards against unlabelled positives (Moreira et al. 2024, "NV-Retriever",
arXiv 2407.15831).
"""

from __future__ import annotations

from sentence_transformers import SentenceTransformer

from embedlab.models.retrieval.dense import DenseRetriever


def mine_hard_negatives(model: SentenceTransformer, queries: dict[str, str], corpus: dict[str, str],
                        relevant: dict[str, set[str]], count: int, skip: int,
                        batch_size: int = 64) -> dict[str, list[str]]:
    """For each query in `relevant`: the `count` best-ranked non-relevant documents after skipping `skip` of them.

    Ranking is by cosine similarity of `model`'s embeddings, searched exactly (`DenseRetriever`).
    Returns {query id: [doc id, ...]} (best first).
    """
    doc_ids, query_ids = list(corpus), list(relevant)
    docs = model.encode([corpus[d] for d in doc_ids], batch_size=batch_size, normalize_embeddings=True)  # (N, D)
    asked = model.encode([queries[q] for q in query_ids], batch_size=batch_size, normalize_embeddings=True)  # (Q, D)
    depth = skip + count + max(len(r) for r in relevant.values())
    ranked, _ = DenseRetriever.build(docs, doc_ids).search(asked, depth)  # (Q, min(depth, N)) ids, best first
    mined = {}
    for query, row in zip(query_ids, ranked.tolist()):
        candidates = [doc for doc in row if doc not in relevant[query]]
        mined[query] = candidates[skip:skip + count]
    return mined
