"""Scoring cross-lingual image–text retrieval: Recall@K per language and direction, and Mean Rank Variance.

Exact search over L2-normalised embeddings through the shared dense retriever (`embedlab.models.retrieval`).
Directions: `i2t` (an image queries the captions of one language) and `t2i` (a caption queries the images). MRV
(paper 4, CCRK, arXiv 2406.18254): for each instance the variance over the K languages of the rank of its correct
item, averaged over instances; lower is better (the population variance, dividing by K [open]).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import Tensor

from embedlab.models.retrieval.dense import DenseRetriever
from embedlab.models.retrieval.metrics import recall_at_k
from embedlab.models.retrieval.ranks import target_ranks as ranks_of


def target_ranks(queries: Tensor, documents: Tensor) -> Tensor:
    """(Q,) 1-based rank of document q among all `documents` (N, D) for query q of `queries` (Q, D), Q <= N.

    Ties go to the lower index. All queries share one search.
    """
    return torch.from_numpy(ranks_of(DenseRetriever.build(documents), queries, np.arange(queries.shape[0])))


def mean_rank_variance(ranks: Tensor) -> float:
    """MRV of ranks (N instances, K languages): mean over instances of the variance over languages."""
    return float(ranks.double().var(dim=1, unbiased=False).mean())


def crossmodal_scores(images: Tensor, texts: Tensor, languages: Sequence[str],
                      k_values: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """Scores of N images (N, D) against their captions texts (N, K, D), caption k in `languages[k]`.

    Keys: `<i2t|t2i>.<lang>.recall_at_<k>`, `<lang>.mean_recall` (over both directions and k_values),
    `<i2t|t2i>.mean_recall`, `mean_recall` (over everything), `mrv_i2t`, `mrv_t2i` and `mrv` (their mean).
    """
    ranks = {"i2t": torch.stack([target_ranks(images, texts[:, k]) for k in range(len(languages))], dim=1),
             "t2i": torch.stack([target_ranks(texts[:, k], images) for k in range(len(languages))], dim=1)}  # (N, K)
    recalls = {(direction, lang, r): value for direction, table in ranks.items() for k, lang in enumerate(languages)
               for r, value in zip(k_values, recall_at_k(table[:, k], k_values).values())}
    scores = {f"{direction}.{lang}.recall_at_{r}": value for (direction, lang, r), value in recalls.items()}
    scores.update({f"{lang}.mean_recall": _mean(v for key, v in recalls.items() if key[1] == lang)
                   for lang in languages})
    scores.update({f"{d}.mean_recall": _mean(v for key, v in recalls.items() if key[0] == d) for d in ranks})
    scores["mean_recall"] = _mean(recalls.values())
    scores.update({f"mrv_{direction}": mean_rank_variance(table) for direction, table in ranks.items()})
    scores["mrv"] = (scores["mrv_i2t"] + scores["mrv_t2i"]) / 2
    return scores


def _mean(values: Iterable[float]) -> float:
    return float(np.mean(list(values)))
