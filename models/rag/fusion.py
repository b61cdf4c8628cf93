"""Fusing the two BM25 routes (EasyRAG §5): a registry of fusion methods, each
`fuse(routes, text_of, **params) -> [(chunk id, score)]`, best first.

- `merge` (the paper's final system, `HybridRetriever.fusion`): concatenate the routes, de-duplicate by chunk text
  (the first occurrence wins), sort by the raw BM25 score, keep `max_candidates`. The two routes' scores come from
  different indexes (short paths vs path + chunk: other IDF and lengths), so this compares unlike scales: it is
  reproduced as the paper does it; `rrf` is the scale-free option.
- `rrf` (reciprocal rank fusion, Cormack et al. 2009; used by EasyRAG's preliminary round, asked for by LlamaIndex
  and Haystack users): score(d) = Σ_routes 1 / (rank_r(d) + k), ranks from 1, k = 60.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from functools import partial
from typing import Any

from embedlab.registry import Registry, signature_params

Route = Sequence[tuple[Hashable, float]]  # one route's (chunk id, score), best first


def merge(routes: Sequence[Route], text_of: Callable[[Any], str], max_candidates: int = 256) -> list[tuple[Any, float]]:
    """De-duplicate by text (first wins), sort by raw score (stable), keep `max_candidates`."""
    seen: set[str] = set()
    kept = []
    for route in routes:
        for chunk, score in route:
            text = text_of(chunk)
            if text not in seen:
                seen.add(text)
                kept.append((chunk, float(score)))
    return sorted(kept, key=lambda hit: -hit[1])[:max_candidates]


def rrf(routes: Sequence[Route], text_of: Callable[[Any], str], k: int = 60,
        max_candidates: int = 256) -> list[tuple[Any, float]]:
    """Σ 1/(rank + k) over the routes a chunk appears in (ranks from 1); ties keep first-seen order."""
    fused: dict[Any, float] = {}
    for route in routes:
        for rank, (chunk, _) in enumerate(route, 1):
            fused[chunk] = fused.get(chunk, 0.0) + 1.0 / (rank + k)
    return sorted(fused.items(), key=lambda hit: -hit[1])[:max_candidates]


FUSIONS: Registry[Any] = Registry("fusion method", {"merge": merge, "rrf": rrf},
                                  params=partial(signature_params, shared=frozenset({"routes", "text_of"})),
                                  doc=lambda entry: entry.__doc__)
