"""Rerankers by kind (a registry): `layerwise`, a folder saved by `embedlab rag train-reranker` (layerwise.py; the
score read at any layer, early exit per query), and `cross-encoder`, any sentence-transformers CrossEncoder
folder or Hugging Face id (bge-reranker-base, cross-encoder/ms-marco-MiniLM-L-6-v2; where the user is online),
scored at its last layer. `load_reranker(spec)` picks the kind: a folder with `layerwise.json` is `layerwise`.
Each reranker has `score(query, passages, **early_exit) -> Reranked`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from embedlab.models.rag.early_exit import Reranked, rerank
from embedlab.models.rag.layerwise import CONFIG_FILE, LayerwiseCrossEncoder
from embedlab.registry import Registry


class LayerwiseReranker:
    """The layer-wise cross-encoder with EasyRAG's per-query early exit (early_exit.py)."""

    def __init__(self, spec: str) -> None:
        self.model = LayerwiseCrossEncoder.load(Path(spec))

    def score(self, query: str, passages: Sequence[str], layer: int | None = None, batch_size: int = 32,
              check_layer: int | None = None, rule: Any = None) -> Reranked:
        return rerank(self.model, query, passages, layer, batch_size, check_layer, rule)


class CrossEncoderReranker:
    """A sentence-transformers CrossEncoder (any Hub id where online): one score per pair, no early exit."""

    def __init__(self, spec: str) -> None:
        from sentence_transformers import CrossEncoder

        self.model = CrossEncoder(spec)

    def score(self, query: str, passages: Sequence[str], layer: int | None = None, batch_size: int = 32,
              check_layer: int | None = None, rule: Any = None) -> Reranked:
        scores = self.model.predict([(query, p) for p in passages], batch_size=batch_size, show_progress_bar=False)
        return Reranked([float(s) for s in scores], self.model.model.config.num_hidden_layers)


RERANKERS: Registry[Any] = Registry("reranker", {"layerwise": LayerwiseReranker, "cross-encoder": CrossEncoderReranker})


def load_reranker(spec: str, kind: str | None = None) -> Any:
    """The reranker `spec` names (a folder or Hub id) as `kind` (default: `layerwise` where the folder has one)."""
    if kind is None:
        kind = "layerwise" if (Path(spec).expanduser() / CONFIG_FILE).is_file() else "cross-encoder"
    return RERANKERS.get(kind)(spec)
