"""The rank of each query's correct item: its position in the retriever's ranking, optionally with one item per
query left out (composed image retrieval removes the query's own reference image).

Ranks are counted from the scores, not from the order a search returns: rank = 1 + the items scoring above the
target + the items scoring the same with a smaller id. Ties therefore always go to the smaller id (the lower row
for a `DenseRetriever.build` index), whatever order the backend returns equal scores in (faiss 1.15 returns the
higher row first).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from embedlab.models.retrieval.base import Retriever


def ranks_in_results(ids: np.ndarray, scores: np.ndarray, targets: Any, exclude: Any = None) -> np.ndarray:
    """(Q,) int64 1-based rank of targets[q] among the results of query q (ids, scores: (Q, k)).

    exclude: (Q,) an id per query that does not count (None: nothing left out). A target missing from the k
    results ranks just past them (k + 1 less its row's excluded hits): "beyond the searched depth".
    """
    targets = np.asarray(targets)[:, None]  # (Q, 1)
    hits = ids == targets  # (Q, k)
    found = hits.any(axis=1)
    own = np.where(found, scores[np.arange(len(ids)), hits.argmax(axis=1)], np.nan)[:, None]  # (Q, 1)
    ahead = (scores > own) | ((scores == own) & (ids < targets))  # (Q, k)
    counted = np.ones_like(hits) if exclude is None else ids != np.asarray(exclude)[:, None]
    return np.where(found, (ahead & counted).sum(axis=1) + 1, counted.sum(axis=1) + 1).astype(np.int64)


def target_ranks(retriever: Retriever, queries: Any, targets: Any, exclude: Any = None,
                 block: int | None = None) -> np.ndarray:
    """(Q,) int64 1-based rank of document id targets[q] among everything `retriever` holds, for query q.

    queries: what the retriever searches with (Q rows); exclude: see `ranks_in_results`. Each search covers
    `block` queries (None: all at once); memory O(block × N). The block changes no rank, but faiss's float
    rounding of a score can depend on how many queries share a search call.
    """
    count = len(queries)
    step = count if block is None else block
    ranks = []
    for start in range(0, count, max(step, 1)):
        ids, scores = retriever.search(queries[start:start + step], len(retriever))
        part = None if exclude is None else np.asarray(exclude)[start:start + step]
        ranks.append(ranks_in_results(ids, scores, np.asarray(targets)[start:start + step], part))
    return np.concatenate(ranks) if ranks else np.empty(0, dtype=np.int64)
