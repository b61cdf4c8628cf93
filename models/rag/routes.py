"""The dual-route coarse ranking of EasyRAG (§4), over one saved index of chunks.

- Route 1 (chunk route): BM25 over content variant 2, `"###\\n" + path + "\\n\\n" + chunk`. Candidates best first,
  the scan stops at the first score <= 0; with a product filter (the question's `document` field) only chunks
  whose product (first path component) matches are kept; at most `route1_top_k` (192).
- Route 2 (path route): BM25 over the path alone (content variant 5), top `route2_top_k` (6) with score > 0, no
  product filter (as in EasyRAG's code).
- Route 3, optional (not in the paper): dense search over the chunks (dense.py), top `dense_top_k`.
- Fusion of the lists (fusion.py): `merge` (the paper's) or `rrf`.

Saved as a folder: `chunks.jsonl`, `route1/` and `route2/` (bm25s), `dense/` where built, and `index.json`
(settings, counts).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embedlab.errors import DataError
from embedlab.jsonlines import read_json_lines
from embedlab.models.rag.bm25 import BM25Retriever
from embedlab.models.rag.corpus import Chunk

if TYPE_CHECKING:
    from embedlab.models.rag.dense import DenseRoute  # imported where used: faiss and torch load in seconds
from embedlab.models.rag.fusion import FUSIONS

INDEX_FILE = "index.json"


def route1_text(chunk: Chunk) -> str:
    """Content variant 2: the knowledge path, then the chunk."""
    return f"###\n{chunk.path}\n\n{chunk.text}"


def reranker_text(chunk: Chunk) -> str:
    """Content variant 1: the (file) path, then the chunk: what the reranker reads."""
    return f"###\n{chunk.path}\n\n{chunk.text}" if chunk.path else chunk.text


@dataclass
class RouteSettings:
    route1_top_k: int = 192
    route2_top_k: int = 6
    fusion: str = "merge"
    fusion_options: dict[str, Any] | None = None
    dense_top_k: int = 0  # 0: the dense route (where the index has one) is not searched


class RagIndex:
    """Chunks plus the two BM25 routes over them and the optional dense route (ids = chunk positions)."""

    def __init__(self, chunks: list[Chunk], route1: BM25Retriever, route2: BM25Retriever, meta: dict[str, Any],
                 dense: DenseRoute | None = None):
        self.chunks, self.route1, self.route2, self.meta, self.dense = chunks, route1, route2, meta, dense

    @classmethod
    def build(cls, chunks: list[Chunk], tokenizer: Any, bm25: dict[str, Any], meta: dict[str, Any],
              encoder: Any = None) -> RagIndex:
        """Both BM25 routes; with an `encoder` (see DenseRoute) the dense route too."""
        ids = [c.chunk_id for c in chunks]
        route1, route2 = BM25Retriever(tokenizer, **bm25), BM25Retriever(tokenizer, **bm25)
        route1.index(ids, [route1_text(c) for c in chunks])
        route2.index(ids, [c.path for c in chunks])
        dense = _dense_route().build(chunks, encoder) if encoder is not None else None
        meta = {**meta, "chunks": len(chunks), "documents": len({c.doc_id for c in chunks}),
                "dense": dense.identity() if dense is not None else None}
        return cls(chunks, route1, route2, meta, dense)

    def save(self, folder: Path) -> None:
        """Write into the (empty, temp) `folder`."""
        (folder / "chunks.jsonl").write_text("".join(json.dumps(c.as_dict(), ensure_ascii=False) + "\n"
                                                     for c in self.chunks), encoding="utf-8")
        for name, route in (("route1", self.route1), ("route2", self.route2)):
            (folder / name).mkdir()
            route.save(folder / name)
        if self.dense is not None:
            self.dense.save(folder)
        (folder / INDEX_FILE).write_text(json.dumps(self.meta, indent=1, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, tokenizer: Any, encoder: Any = None) -> RagIndex:
        """The index in `folder`, with its dense route where an `encoder` is given; UserError if it is missing, was
        built with another tokenizer, has no dense route or one made by another encoder."""
        if not (folder / INDEX_FILE).is_file():
            raise DataError(folder, f"no index here (no {INDEX_FILE}); build one with `embedlab rag index`")
        meta = json.loads((folder / INDEX_FILE).read_text(encoding="utf-8"))
        chunks = [Chunk(**row) for _, row in read_json_lines(folder / "chunks.jsonl")]
        return cls(chunks, BM25Retriever.load(folder / "route1", tokenizer),
                   BM25Retriever.load(folder / "route2", tokenizer), meta,
                   _dense_route().load(folder, encoder) if encoder is not None else None)

    def route1_hits(self, query: str, top_k: int, product: str | None = None) -> list[tuple[int, float]]:
        """Route 1: best first, stopping at the first score <= 0, product-filtered, at most top_k."""
        depth = len(self.route1) if product else top_k
        ids, scores = self.route1.search([query], depth)
        hits = []
        for chunk, score in zip(ids[0].tolist(), scores[0].tolist(), strict=True):
            if score <= 0 or len(hits) == top_k:
                break
            if product is None or self.chunks[chunk].product == product:
                hits.append((chunk, score))
        return hits

    def route2_hits(self, query: str, top_k: int) -> list[tuple[int, float]]:
        """Route 2: the top_k chunks by path alone, score > 0."""
        ids, scores = self.route2.search([query], top_k)
        return [(c, s) for c, s in zip(ids[0].tolist(), scores[0].tolist(), strict=True) if s > 0]

    def retrieve(self, query: str, settings: RouteSettings, product: str | None = None) -> list[tuple[int, float]]:
        """The routes fused: [(chunk id, fused score)], best first. The dense route (where the index has one and
        dense_top_k > 0) is product-filtered like route 1."""
        routes = [self.route1_hits(query, settings.route1_top_k, product)]
        if settings.route2_top_k > 0:
            routes.append(self.route2_hits(query, settings.route2_top_k))
        if self.dense is not None and settings.dense_top_k > 0:
            depth = len(self.chunks) if product else settings.dense_top_k
            hits = [(c, s) for c, s in self.dense.hits(query, depth)
                    if product is None or self.chunks[c].product == product]
            routes.append(hits[:settings.dense_top_k])
        options = FUSIONS.params(settings.fusion, settings.fusion_options or {}, "rag.fusion_options")
        return FUSIONS.get(settings.fusion)(routes, lambda c: self.chunks[c].text, **options.model_dump())

    def ranked_documents(self, query_hits: Sequence[tuple[int, float]]) -> list[str]:
        """Document ids in the order of their first chunk in `query_hits` (chunks of one document collapse)."""
        seen: dict[str, None] = {}
        for chunk, _ in query_hits:
            seen.setdefault(self.chunks[chunk].doc_id, None)
        return list(seen)


def _dense_route() -> type[DenseRoute]:
    from embedlab.models.rag.dense import DenseRoute

    return DenseRoute


def as_hits(ids: np.ndarray, scores: np.ndarray) -> list[tuple[int, float]]:
    """One row of a search as [(id, score)] pairs."""
    return list(zip(ids.tolist(), scores.tolist(), strict=True))
