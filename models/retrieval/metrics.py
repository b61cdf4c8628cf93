"""Ranking metrics over ranks (ranks.py) or ranked id lists, in mteb's naming.

With rank_q the 1-based rank of query q's correct item among Q queries:
  Recall@k = (1/Q) Σ_q [rank_q <= k]
  MRR@c    = (1/Q) Σ_q [rank_q <= c] / rank_q                      (c = None: no cut-off)
With graded judgements rel_q(d) >= 0 and query q's ranked list d_1, d_2, ...:
  DCG_q@k  = Σ_{i=1..k} rel_q(d_i) / log2(i + 1)
  nDCG@k   = (1/Q) Σ_q DCG_q@k / IDCG_q@k, IDCG_q@k the DCG@k of q's judgements sorted best first; 0 where IDCG is 0
(linear gain as in trec_eval's ndcg_cut, which pytrec_eval and mteb report; Järvelin & Kekäläinen 2002,
"Cumulated gain-based evaluation of IR techniques").
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np


def recall_at_k(ranks: Any, k_values: Sequence[int]) -> dict[str, float]:
    """{"recall_at_<k>": share of queries whose correct item ranks within the top k} for each k; ranks (Q,)."""
    ranks = np.asarray(ranks)
    return {f"recall_at_{k}": float((ranks <= k).mean()) for k in k_values}


def mrr(ranks: Any, cutoff: int | None = None) -> float:
    """Mean reciprocal rank of ranks (Q,), counting 0 for a rank beyond `cutoff`."""
    ranks = np.asarray(ranks, dtype=np.float64)
    reciprocal = 1.0 / ranks
    return float(np.where(ranks <= cutoff, reciprocal, 0.0).mean() if cutoff is not None else reciprocal.mean())


def ndcg_at_k(ranked: Sequence[Sequence[Hashable]], relevance: Sequence[Mapping[Hashable, float]], k: int) -> float:
    """nDCG@k: `ranked[q]` query q's ids best first (at least its top k), `relevance[q]` {id: grade} (unjudged: 0)."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))  # position i (1-based) -> 1 / log2(i + 1)
    values = []
    for ids, grades in zip(ranked, relevance, strict=True):
        gains = np.array([grades.get(d, 0.0) for d in list(ids)[:k]], dtype=np.float64)
        ideal = np.sort(np.array([g for g in grades.values() if g > 0], dtype=np.float64))[::-1][:k]
        best = float(ideal @ discounts[:len(ideal)])
        values.append(float(gains @ discounts[:len(gains)]) / best if best > 0 else 0.0)
    return float(np.mean(values))


def recall_of_judged(ranked: Sequence[Sequence[Hashable]], relevance: Sequence[Mapping[Hashable, float]],
                     k: int) -> float:
    """Recall@k with graded judgements (trec_eval's recall_k, mteb's recall_at_k): (1/Q) Σ_q |{relevant d in
    q's top k}| / |{relevant d}|, relevant = grade > 0; a query without relevant documents counts 0."""
    values = []
    for ids, grades in zip(ranked, relevance, strict=True):
        relevant = {d for d, g in grades.items() if g > 0}
        values.append(len(relevant & set(list(ids)[:k])) / len(relevant) if relevant else 0.0)
    return float(np.mean(values))
