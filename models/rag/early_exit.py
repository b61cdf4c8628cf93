"""Reranking with a layer-wise cross-encoder and the per-query early exit of EasyRAG (paper §5, "max-similarity
selection"; EasyRAG `src/easyrag/utils/efficient_modeling_minicpm_reranker.py`).

Per query, the first batch (`batch_size` passages, 32) runs to the `check_layer`; p = softmax of that layer's
scores over the batch. The query exits when the rule says so: every batch of the query is then scored at the
check layer; otherwise the first batch continues to the final `layer` (its hidden states are kept, nothing is
recomputed) and so do the later batches. The decision is made again for every query (the paper's description;
the released code keeps the first exit for all later queries, which is not copied).

Rules (`exit_rules.EXIT_RULES`): `max` exits when max(p) >= θ (θ = 0.4 in the paper's code); `entropy` computes the
normalised entropy H(p) / log N and exits when it is `below` θ (confident) or, as EasyRAG's code does, `above` it
(`exit_when`; the code's direction looks inverted, hence the parameter).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from pydantic import BaseModel

from embedlab.models.rag.layerwise import LayerwiseCrossEncoder


@dataclass(frozen=True)
class Reranked:
    scores: list[float]  # one per passage, in input order
    layer: int  # the layer the scores were read at


@torch.inference_mode()
def rerank(model: LayerwiseCrossEncoder, query: str, passages: Sequence[str], layer: int | None = None,
           batch_size: int = 32, check_layer: int | None = None, rule: BaseModel | None = None) -> Reranked:
    """Scores of `passages` for `query` at `layer` (default: the last), or at `check_layer` where `rule` exits."""
    final = layer or model.num_layers
    if not passages:
        return Reranked([], final)
    chosen, scores = final, []
    for start in range(0, len(passages), batch_size):
        batch = list(passages[start:start + batch_size])
        steps = model.layers([query] * len(batch), batch)
        if start == 0 and rule is not None and check_layer is not None and check_layer < final:
            for _ in range(check_layer - 1):
                next(steps)
            at_check = next(steps)
            if rule.exits(at_check):
                chosen = check_layer
                scores += at_check.tolist()
                continue
            for _ in range(final - check_layer - 1):
                next(steps)
            scores += next(steps).tolist()
            continue
        for _ in range(chosen - 1):
            next(steps)
        scores += next(steps).tolist()
    return Reranked(scores, chosen)
